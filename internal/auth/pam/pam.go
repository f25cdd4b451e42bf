//go:build pam && cgo

package pam

/*
#cgo LDFLAGS: -lpam
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

// silo_pam_data is the conversation's appdata. It lives in C memory because
// PAM keeps the pointer for the whole transaction, which cgo's rules forbid
// for Go memory.
struct silo_pam_data {
	char *password;
};

static void silo_pam_free_responses(int n, struct pam_response *r) {
	for (int i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

// silo_pam_conv answers the modules' messages. The whole conversation is in
// C so that PAM never calls back into Go (no cgo callbacks, no handles
// passed through void*). Password prompts (echo off) get the password;
// informational and error messages need no answer; any other prompt
// (echo on: a user name, an OTP the user would have to read) is refused,
// because a server has no person to ask.
static int silo_pam_conv(int n, const struct pam_message **msg,
		struct pam_response **resp, void *appdata) {
	struct silo_pam_data *d = appdata;
	if (n <= 0 || n > PAM_MAX_NUM_MSG) {
		return PAM_CONV_ERR;
	}
	struct pam_response *r = calloc(n, sizeof *r);
	if (r == NULL) {
		return PAM_BUF_ERR;
	}
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			r[i].resp = strdup(d->password);
			if (r[i].resp == NULL) {
				silo_pam_free_responses(n, r);
				return PAM_BUF_ERR;
			}
			break;
		case PAM_TEXT_INFO:
		case PAM_ERROR_MSG:
			break;
		default:
			silo_pam_free_responses(n, r);
			return PAM_CONV_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

// silo_pam_start starts a transaction whose conversation is silo_pam_conv.
// Linux-PAM copies the pam_conv struct, so it may live on this stack.
static int silo_pam_start(const char *service, const char *user,
		const char *confdir, struct silo_pam_data *d, pam_handle_t **h) {
	struct pam_conv conv = { silo_pam_conv, d };
	if (confdir != NULL) {
		return pam_start_confdir(service, user, &conv, confdir, h);
	}
	return pam_start(service, user, &conv, h);
}

// silo_pam_user returns PAM's idea of the user, which a module may have
// changed during authentication (pam_user_map, case folding).
static const char *silo_pam_user(pam_handle_t *h) {
	const void *item = NULL;
	if (pam_get_item(h, PAM_USER, &item) != PAM_SUCCESS) {
		return NULL;
	}
	return item;
}

// silo_pam_reply runs the conversation on one message, for the tests of
// what is answered and what is refused; the modules at hand never send an
// echo-on prompt once the user is known.
static int silo_pam_reply(int style, const char *text, char *password, char **reply) {
	struct silo_pam_data d = { password };
	struct pam_message m = { style, text };
	const struct pam_message *msgs[1] = { &m };
	struct pam_response *r = NULL;
	int rc = silo_pam_conv(1, msgs, &r, &d);
	*reply = NULL;
	if (rc == PAM_SUCCESS) {
		*reply = r[0].resp;
		free(r);
	}
	return rc;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strings"
	"unsafe"

	"github.com/siloreg/silo/internal/auth/provider"
)

// New checks cfg. It does not start a PAM transaction, so a missing service
// file shows up at the first login, as an error that is not
// provider.ErrBadCredentials.
func New(cfg Config) (*Provider, error) {
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	// The service name becomes a file name under ConfDir or /etc/pam.d.
	if strings.ContainsAny(cfg.Service, "/\x00") || cfg.Service == "." || cfg.Service == ".." {
		return nil, fmt.Errorf("pam: service %q: want a plain file name", cfg.Service)
	}
	if strings.ContainsRune(cfg.ConfDir, 0) {
		return nil, fmt.Errorf("pam: ConfDir %q holds a NUL byte", cfg.ConfDir)
	}
	return &Provider{cfg: cfg}, nil
}

// Authenticate runs pam_authenticate and then pam_acct_mgmt, so that an
// expired or locked account is refused even with the right password.
//
// PAM calls cannot be interrupted: when ctx ends first, Authenticate returns
// ctx's error at once and the transaction finishes in the background.
func (p *Provider) Authenticate(ctx context.Context, username, password string) (*provider.Identity, error) {
	// A NUL would cut the C string short: "alice\x00x" would log in as
	// alice. An empty password is refused here as well as by the
	// PAM_DISALLOW_NULL_AUTHTOK flag, since not every module honours it.
	if username == "" || password == "" || strings.ContainsRune(username, 0) || strings.ContainsRune(password, 0) {
		return nil, provider.ErrBadCredentials
	}
	type result struct {
		id  *provider.Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := p.transaction(username, password)
		done <- result{id, err}
	}()
	select {
	case r := <-done:
		return r.id, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("pam: %w", ctx.Err())
	}
}

func (p *Provider) transaction(username, password string) (*provider.Identity, error) {
	cService := C.CString(p.cfg.Service)
	defer C.free(unsafe.Pointer(cService))
	cUser := C.CString(username)
	defer C.free(unsafe.Pointer(cUser))
	var cConfDir *C.char
	if p.cfg.ConfDir != "" {
		cConfDir = C.CString(p.cfg.ConfDir)
		defer C.free(unsafe.Pointer(cConfDir))
	}
	data := (*C.struct_silo_pam_data)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_silo_pam_data{}))))
	if data == nil {
		return nil, errors.New("pam: out of memory")
	}
	data.password = C.CString(password)
	defer func() {
		// The password's C copy is wiped, not just freed; the Go string
		// cannot be, which is the caller's concern.
		C.explicit_bzero(unsafe.Pointer(data.password), C.strlen(data.password))
		C.free(unsafe.Pointer(data.password))
		C.free(unsafe.Pointer(data))
	}()

	var h *C.pam_handle_t
	rc := C.silo_pam_start(cService, cUser, cConfDir, data, &h)
	if rc != C.PAM_SUCCESS {
		// There is no handle to pass; pam_strerror (Linux-PAM's and
		// OpenPAM's) only reads the code. A missing service file is the
		// usual cause, so the message says where it was looked for.
		dir := p.cfg.ConfDir
		if dir == "" {
			dir = "/etc/pam.d"
		}
		return nil, fmt.Errorf("pam: starting service %q (is there a %s/%s?): %s (code %d)",
			p.cfg.Service, dir, p.cfg.Service, C.GoString(C.pam_strerror(nil, rc)), int(rc))
	}
	defer func() { C.pam_end(h, rc) }()

	rc = C.pam_authenticate(h, C.PAM_DISALLOW_NULL_AUTHTOK)
	switch rc {
	case C.PAM_SUCCESS:
	case C.PAM_AUTH_ERR, C.PAM_USER_UNKNOWN, C.PAM_MAXTRIES, C.PAM_CRED_INSUFFICIENT:
		return nil, provider.ErrBadCredentials
	default:
		// PAM_AUTHINFO_UNAVAIL (the backend is down), PAM_CONV_ERR (a
		// module wanted more than a password), PAM_ABORT or
		// PAM_SYSTEM_ERR (a bad service file): not the user's fault.
		return nil, p.fail(h, "pam_authenticate", rc)
	}

	rc = C.pam_acct_mgmt(h, C.PAM_DISALLOW_NULL_AUTHTOK)
	switch rc {
	case C.PAM_SUCCESS:
	case C.PAM_USER_UNKNOWN:
		return nil, provider.ErrBadCredentials
	case C.PAM_ACCT_EXPIRED, C.PAM_NEW_AUTHTOK_REQD, C.PAM_PERM_DENIED, C.PAM_AUTH_ERR:
		return nil, fmt.Errorf("%w: %s", provider.ErrAccountDenied, C.GoString(C.pam_strerror(h, rc)))
	default:
		return nil, p.fail(h, "pam_acct_mgmt", rc)
	}

	subject := username
	if u := C.silo_pam_user(h); u != nil {
		subject = C.GoString(u)
	}
	id := &provider.Identity{
		Provider: p.Name(),
		Subject:  subject,
		Username: provider.Username(subject),
	}
	// The display name comes from the passwd entry's GECOS field when the
	// account is known to the system (local or through NSS, e.g. sssd);
	// accounts only PAM knows (pam_userdb) have none.
	if u, err := user.Lookup(subject); err == nil {
		id.Name, _, _ = strings.Cut(u.Name, ",")
	}
	return id, nil
}

func (p *Provider) fail(h *C.pam_handle_t, call string, rc C.int) error {
	return fmt.Errorf("pam: service %q: %s: %s (code %d)", p.cfg.Service, call, C.GoString(C.pam_strerror(h, rc)), int(rc))
}

// Message styles, for the conversation tests.
const (
	stylePromptEchoOff = int(C.PAM_PROMPT_ECHO_OFF)
	stylePromptEchoOn  = int(C.PAM_PROMPT_ECHO_ON)
	styleErrorMsg      = int(C.PAM_ERROR_MSG)
	styleTextInfo      = int(C.PAM_TEXT_INFO)
)

// replyTo runs the conversation function on one message and reports what it
// answered and whether it accepted the message.
func replyTo(style int, text, password string) (reply string, hasReply, ok bool) {
	cText := C.CString(text)
	defer C.free(unsafe.Pointer(cText))
	cPass := C.CString(password)
	defer C.free(unsafe.Pointer(cPass))
	var r *C.char
	rc := C.silo_pam_reply(C.int(style), cText, cPass, &r)
	if r != nil {
		reply, hasReply = C.GoString(r), true
		C.free(unsafe.Pointer(r))
	}
	return reply, hasReply, rc == C.PAM_SUCCESS
}
