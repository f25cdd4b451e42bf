//go:build pam && cgo

package pam

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/auth/pam/pamtest"
	"github.com/siloreg/silo/internal/auth/provider"
)

func mustNew(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestAuthenticate(t *testing.T) {
	confDir := pamtest.ConfDir(t)
	ctx := context.Background()
	p := mustNew(t, Config{Service: pamtest.Service, ConfDir: confDir})

	for _, svc := range []string{pamtest.Service, pamtest.ServiceChatty} {
		t.Run("good password/"+svc, func(t *testing.T) {
			id, err := mustNew(t, Config{Service: svc, ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.Provider != "pam" || id.Subject != "alice" || id.Username != "alice" || len(id.Groups) != 0 {
				t.Errorf("identity = %+v", *id)
			}
		})
	}

	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "not-wonderland"},
		{"another user's password", "alice", "builder"},
		{"unknown user", "mallory", "wonderland"},
		{"empty password", "alice", ""},
		{"empty user", "", "wonderland"},
		// Without the check, C would see "alice" and "wonderland".
		{"NUL in user name", "alice\x00mallory", "wonderland"},
		{"NUL in password", "alice", "wonderland\x00extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.Authenticate(ctx, tc.user, tc.pass)
			if !errors.Is(err, provider.ErrBadCredentials) {
				t.Fatalf("Authenticate(%q, %q) = %+v, %v; want ErrBadCredentials", tc.user, tc.pass, id, err)
			}
		})
	}

	t.Run("account refused after a good password", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: pamtest.ServiceLocked, ConfDir: confDir}).Authenticate(ctx, "bob", "builder")
		if !errors.Is(err, provider.ErrAccountDenied) {
			t.Fatalf("Authenticate = %v; want ErrAccountDenied", err)
		}
	})
	t.Run("wrong password on a locked account says only that", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: pamtest.ServiceLocked, ConfDir: confDir}).Authenticate(ctx, "bob", "nope")
		if !errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want ErrBadCredentials", err)
		}
	})
	t.Run("broken service file is not the user's fault", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: pamtest.ServiceBroken, ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a configuration error", err)
		}
		t.Logf("broken service: %v", err)
	})
	t.Run("missing service file is not the user's fault", func(t *testing.T) {
		_, err := mustNew(t, Config{Service: "silo-test-absent", ConfDir: confDir}).Authenticate(ctx, "alice", "wonderland")
		if err == nil || errors.Is(err, provider.ErrBadCredentials) {
			t.Fatalf("Authenticate = %v; want a configuration error", err)
		}
		t.Logf("missing service: %v", err)
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		// Either the transaction or the cancellation may win the race;
		// what must never happen is a login with a cancelled request
		// being reported as bad credentials.
		id, err := p.Authenticate(cctx, "alice", "wonderland")
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Authenticate = %+v, %v; want success or context.Canceled", id, err)
		}
	})
}

func TestConversation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		style     int
		wantReply bool
		wantOK    bool
	}{
		{"password prompt gets the password", stylePromptEchoOff, true, true},
		{"echo-on prompt is refused", stylePromptEchoOn, false, false},
		{"info needs no answer", styleTextInfo, false, true},
		{"error message needs no answer", styleErrorMsg, false, true},
		{"unknown style is refused", 99, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, has, ok := replyTo(tc.style, "Password: ", "s3cret")
			if ok != tc.wantOK || has != tc.wantReply || (has && reply != "s3cret") {
				t.Errorf("replyTo(%d) = %q, %v, %v; want reply %v, ok %v", tc.style, reply, has, ok, tc.wantReply, tc.wantOK)
			}
		})
	}
}

func TestNewRefusesBadService(t *testing.T) {
	for _, s := range []string{"../etc/passwd", "a/b", "..", "x\x00y"} {
		if _, err := New(Config{Service: s}); err == nil {
			t.Errorf("New accepted service %q", s)
		}
	}
	p, err := New(Config{})
	if err != nil || p.cfg.Service != DefaultService || p.Name() != "pam" {
		t.Errorf("New(Config{}) = %+v, %v", p, err)
	}
	if !strings.Contains(DefaultService, "silo") {
		t.Errorf("DefaultService = %q", DefaultService)
	}
}
