package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Call sends method path to the server with token as Bearer (none when
// empty) and body (nil, or a value sent as JSON), and decodes an answer of
// status want into out (nil: ignore it); any other status ends the test.
// It returns the answer's body, for checks of an error's text.
func (in *Instance) Call(t testing.TB, method, path, token string, body, out any, want int) []byte {
	t.Helper()
	return in.CallVia(t, http.DefaultClient, method, path, token, body, out, want)
}

// CallVia is Call through client.
func (in *Instance) CallVia(t testing.TB, client *http.Client, method, path, token string, body, out any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, in.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return b
}
