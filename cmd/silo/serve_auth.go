package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/server"
)

// authFlags are the `silo serve` flags for the authentication providers
// that do not go straight into server.Config: secrets, which are read from
// a file or the environment, and the one OIDC provider, which becomes an
// entry of Config.OIDC.
type authFlags struct {
	ldapBindPasswordFile string
	oidc                 server.OIDCProvider
	oidcSecretFile       string
}

// register adds the provider flags; each defaults to its SILO_* variable.
func (a *authFlags) register(cmd *cobra.Command, cfg *server.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.LDAP.URL, "ldap-url", envOr("SILO_LDAP_URL", ""),
		"check passwords against this LDAP directory: ldap://host[:port] or ldaps://host[:port]; empty: no LDAP (env SILO_LDAP_URL)")
	f.BoolVar(&cfg.LDAP.StartTLS, "ldap-start-tls", envBool("SILO_LDAP_START_TLS"),
		"upgrade the ldap:// connection with StartTLS before sending anything (env SILO_LDAP_START_TLS)")
	f.StringVar(&cfg.LDAP.CAFile, "ldap-ca-file", envOr("SILO_LDAP_CA_FILE", ""),
		"PEM file of the CAs trusted for ldaps:// and StartTLS; default the system's (env SILO_LDAP_CA_FILE)")
	f.StringVar(&cfg.LDAP.BindDN, "ldap-bind-dn", envOr("SILO_LDAP_BIND_DN", ""),
		"service account that searches for users and groups; empty: anonymous search (env SILO_LDAP_BIND_DN)")
	f.StringVar(&a.ldapBindPasswordFile, "ldap-bind-password-file", envOr("SILO_LDAP_BIND_PASSWORD_FILE", ""),
		"file holding the service account's password (or set SILO_LDAP_BIND_PASSWORD; never on the command line) (env SILO_LDAP_BIND_PASSWORD_FILE)")
	f.StringVar(&cfg.LDAP.UserBase, "ldap-user-base", envOr("SILO_LDAP_USER_BASE", ""),
		"subtree searched for users, e.g. ou=people,dc=example,dc=org (env SILO_LDAP_USER_BASE)")
	f.StringVar(&cfg.LDAP.UserFilter, "ldap-user-filter", envOr("SILO_LDAP_USER_FILTER", ""),
		"filter that finds a user; %s is the name typed, escaped; default (uid=%s) (env SILO_LDAP_USER_FILTER)")
	f.StringVar(&cfg.LDAP.GroupBase, "ldap-group-base", envOr("SILO_LDAP_GROUP_BASE", ""),
		"subtree searched for the user's groups, which map to teams of the same name; empty: no groups (env SILO_LDAP_GROUP_BASE)")
	f.StringVar(&cfg.LDAP.GroupFilter, "ldap-group-filter", envOr("SILO_LDAP_GROUP_FILTER", ""),
		"filter that finds a user's groups; %[1]s is the user's DN, %[2]s their uid; default (|(member=%s)(memberUid=%s)) (env SILO_LDAP_GROUP_FILTER)")
	f.StringVar(&cfg.PAM.Service, "pam-service", envOr("SILO_PAM_SERVICE", ""),
		"check passwords through this PAM service (/etc/pam.d/NAME), after LDAP; needs a build with -tags pam; empty: no PAM (env SILO_PAM_SERVICE)")

	f.StringVar(&a.oidc.Name, "oidc-name", envOr("SILO_OIDC_NAME", ""),
		"name of the OpenID Connect provider, in its login URL /auth/oidc/NAME/login; keep it once people have logged in (env SILO_OIDC_NAME)")
	f.StringVar(&a.oidc.Issuer, "oidc-issuer", envOr("SILO_OIDC_ISSUER", ""),
		"issuer URL of the OpenID Connect provider, where discovery starts; empty: no browser login (env SILO_OIDC_ISSUER)")
	f.StringVar(&a.oidc.ClientID, "oidc-client-id", envOr("SILO_OIDC_CLIENT_ID", ""),
		"Silo's client id at the OpenID Connect provider (env SILO_OIDC_CLIENT_ID)")
	f.StringVar(&a.oidcSecretFile, "oidc-client-secret-file", envOr("SILO_OIDC_CLIENT_SECRET_FILE", ""),
		"file holding Silo's client secret (or set SILO_OIDC_CLIENT_SECRET; never on the command line) (env SILO_OIDC_CLIENT_SECRET_FILE)")
	f.StringVar(&a.oidc.RedirectURL, "oidc-redirect-url", envOr("SILO_OIDC_REDIRECT_URL", ""),
		"callback URL registered at the provider; default <--url>/auth/oidc/NAME/callback (env SILO_OIDC_REDIRECT_URL)")
	f.StringVar(&a.oidc.UsernameClaim, "oidc-username-claim", envOr("SILO_OIDC_USERNAME_CLAIM", ""),
		"ID token claim proposed as the user name; default preferred_username, else the e-mail's local part (env SILO_OIDC_USERNAME_CLAIM)")
	f.StringVar(&a.oidc.GroupsClaim, "oidc-groups-claim", envOr("SILO_OIDC_GROUPS_CLAIM", ""),
		"ID token claim listing the groups, which map to teams of the same name; default groups (env SILO_OIDC_GROUPS_CLAIM)")
}

// apply reads the secrets and puts the OIDC provider into cfg.
func (a *authFlags) apply(cmd *cobra.Command, cfg *server.Config) error {
	if _, err := strconv.ParseBool(envOr("SILO_LDAP_START_TLS", "false")); err != nil && !cmd.Flags().Changed("ldap-start-tls") {
		return fmt.Errorf("SILO_LDAP_START_TLS=%q: want true or false", os.Getenv("SILO_LDAP_START_TLS"))
	}
	pw, err := secret("--ldap-bind-password-file", a.ldapBindPasswordFile, "SILO_LDAP_BIND_PASSWORD")
	if err != nil {
		return err
	}
	cfg.LDAP.BindPassword = pw

	o := a.oidc
	switch {
	case o.Issuer == "" && (o.Name != "" || o.ClientID != "" || a.oidcSecretFile != "" || o.RedirectURL != ""):
		return errors.New("OpenID Connect settings given without the provider's issuer (--oidc-issuer, SILO_OIDC_ISSUER)")
	case o.Issuer == "":
		return nil
	case o.Name == "":
		return errors.New("--oidc-issuer needs --oidc-name: the provider's name in its login URL (/auth/oidc/NAME/login)")
	}
	if o.ClientSecret, err = secret("--oidc-client-secret-file", a.oidcSecretFile, "SILO_OIDC_CLIENT_SECRET"); err != nil {
		return err
	}
	cfg.OIDC = append(cfg.OIDC, o)
	return nil
}

// secret returns a secret from file (flag names the flag that gave it) or
// from the environment variable env; giving both is an error, since
// either choice could be the wrong one. The file's trailing line break is
// not part of the secret: editors and `echo` add one.
func secret(flag, file, env string) (string, error) {
	v := os.Getenv(env)
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("both %s and %s are set: give the secret one way", flag, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", flag, file)
	}
	return s, nil
}

// envBool is a boolean environment variable's value, false when unset or
// not a boolean (apply reports the latter).
func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}
