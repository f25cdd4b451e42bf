package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Saved is what `silo login` remembers: one server and a token for it.
type Saved struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// ConfigPath is where the login is saved: <user config dir>/silo/config.json
// ($XDG_CONFIG_HOME or ~/.config on Linux).
func ConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config directory: %w", err)
	}
	return filepath.Join(dir, "silo", "config.json"), nil
}

// LoadSaved reads the saved login; nothing saved is (nil, nil).
func LoadSaved() (*Saved, error) {
	p, err := ConfigPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): run `silo login` again", p, err)
	}
	return &s, nil
}

// Save writes the login readable by its owner only, since it holds a
// token, and replaces the old file in one rename so a crash never leaves
// half a file. It returns the path written.
func (s *Saved) Save() (string, error) {
	p, err := ConfigPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".config.json.*") // created 0600
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return "", err
	}
	return p, nil
}
