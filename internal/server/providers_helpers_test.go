package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	aclient "github.com/apptainer/container-library-client/client"
	jsonresp "github.com/apptainer/json-resp"

	"github.com/siloreg/silo/internal/api/silo"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// The helpers the provider tests share: the silo API over plain HTTP, a
// push with the real library client, and a server log the test can read.

const siloAPI = "/api/silo/v1/"

// login logs in through POST login, as `silo login --user` does.
func login(t *testing.T, in *servertest.Instance, user, password string, want int) (silo.LoginResponse, []byte) {
	t.Helper()
	var res silo.LoginResponse
	var out any
	if want == http.StatusOK {
		out = &res
	}
	b := in.Call(t, "POST", siloAPI+"login", "", silo.LoginRequest{Username: user, Password: password}, out, want)
	return res, b
}

// teamsOf is the token's user's teams as GET me shows them.
func teamsOf(t *testing.T, in *servertest.Instance, token string) []string {
	t.Helper()
	var me silo.User
	in.Call(t, "GET", siloAPI+"me", token, nil, &me, http.StatusOK)
	slices.Sort(me.Teams)
	return me.Teams
}

// auditDetails are "target: detail" of the audit lines of one action,
// oldest first.
func auditDetails(t *testing.T, in *servertest.Instance, action string) []string {
	t.Helper()
	var list silo.AuditList
	in.Call(t, "GET", siloAPI+"audit?action="+action, in.AdminToken, nil, &list, http.StatusOK)
	var out []string
	for _, ev := range slices.Backward(list.Events) {
		out = append(out, ev.Target+": "+ev.Detail)
	}
	return out
}

// push uploads a small SIF to name with the real library client (what
// apptainer push runs) and returns the HTTP status it ended with: 200, or
// the server's refusal.
func push(t *testing.T, in *servertest.Instance, token, name string, seed int) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.sif")
	if _, _, err := siftest.Write(path, siftest.Options{Seed: int64(seed)}); err != nil {
		t.Fatal(err)
	}
	c, err := aclient.NewClient(&aclient.Config{BaseURL: in.URL, AuthToken: token})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = c.UploadImage(context.Background(), f, name, "amd64", []string{"latest"}, "", nil)
	var je *jsonresp.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &je):
		return je.Code
	}
	t.Fatalf("pushing %s: %v", name, err)
	return 0
}

// serverLog is a server's log, kept for the test to read.
type serverLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("SILO_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return l.buf.Write(p)
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *serverLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// contains reports whether the log holds every one of words on one line.
func (l *serverLog) contains(words ...string) bool {
	for line := range strings.Lines(l.String()) {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) }) {
			return true
		}
	}
	return false
}
