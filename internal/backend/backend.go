// Package backend turns the --db and --store settings into a metadata store
// and a blob store: embedded SQLite and files under the data directory by
// default, PostgreSQL and an S3 bucket for a registry spread over several
// nodes. `silo serve` and every offline command open their stores here, so
// they all understand the same URLs.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/siloreg/silo/internal/blob"
	"github.com/siloreg/silo/internal/blob/fs"
	"github.com/siloreg/silo/internal/blob/s3"
	"github.com/siloreg/silo/internal/meta"
	"github.com/siloreg/silo/internal/meta/postgres"
	"github.com/siloreg/silo/internal/meta/sqlite"
)

// Config names the stores.
type Config struct {
	// Data is the local data directory: the SQLite database and the blob
	// files when DB and Store are empty, and the bootstrap admin token.
	Data string
	// DB is empty (SQLite in Data/meta.db) or a postgres:// URL.
	DB string
	// Store is empty (files under Data) or
	// s3://bucket[/prefix][?endpoint=URL&region=R&path-style=true].
	Store string
	// PartSize is the library API's multipart part size, which an S3 store
	// needs to map part numbers onto offsets; 0 takes s3.DefaultPartSize.
	PartSize int64
}

// Open opens (and creates or migrates, as needed) the stores cfg names.
// Bad URLs are refused before anything is opened or created.
func Open(ctx context.Context, cfg Config) (meta.Store, blob.Store, error) {
	dsn, err := ParseDB(cfg.DB)
	if err != nil {
		return nil, nil, err
	}
	s3cfg, err := ParseStore(cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	// Only SQLite and the file store keep files in the data directory; a
	// registry wholly on PostgreSQL and S3 needs none.
	if dsn == "" || s3cfg == nil {
		if cfg.Data == "" {
			return nil, nil, errors.New("no data directory")
		}
		if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
			return nil, nil, fmt.Errorf("data directory: %w", err)
		}
	}
	var m meta.Store
	if dsn == "" {
		m, err = sqlite.Open(ctx, filepath.Join(cfg.Data, "meta.db"))
	} else {
		m, err = postgres.Open(ctx, dsn)
	}
	if err != nil {
		return nil, nil, err
	}
	var b blob.Store
	if s3cfg == nil {
		b, err = fs.New(cfg.Data)
	} else {
		s3cfg.PartSize = cfg.PartSize
		b, err = s3.New(ctx, *s3cfg)
	}
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, b, nil
}

// ParseDB checks a --db value and returns the PostgreSQL connection string
// it names, or "" for the embedded SQLite database. Errors never repeat a
// password the URL may hold.
func ParseDB(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the whole input, password included.
		return "", errors.New("--db: not a URL; want postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or nothing for SQLite in the data directory")
	}
	switch u.Scheme {
	case "postgres", "postgresql":
	default:
		return "", fmt.Errorf("--db %s: unknown kind of database %q; want postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or nothing for SQLite in the data directory", u.Redacted(), u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("--db %s: no host; want postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", u.Redacted())
	}
	return s, nil
}

// bucketRE is S3's rule for bucket names (without the rarer exclusions,
// which the server itself reports).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// storeParams are the query parameters an s3:// URL may carry.
var storeParams = map[string]bool{"endpoint": true, "region": true, "path-style": true}

// ParseStore checks a --store value and returns the S3 configuration it
// names, or nil for files in the data directory. Credentials are never part
// of the URL: they come from the standard AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, roles).
func ParseStore(s string) (*s3.Config, error) {
	if s == "" {
		return nil, nil
	}
	const want = "want s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true], or nothing for files in the data directory"
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--store %q: %v; %s", s, err, want)
	}
	if u.Scheme != "s3" {
		return nil, fmt.Errorf("--store %q: unknown kind of store %q; %s", s, u.Scheme, want)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--store: credentials do not belong in the URL (it shows in process lists and logs); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or an AWS profile")
	}
	if !bucketRE.MatchString(u.Host) {
		return nil, fmt.Errorf("--store %q: bucket %q: want 3 to 63 lower-case letters, digits, '.' and '-'; %s", s, u.Host, want)
	}
	cfg := &s3.Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	for k, vs := range u.Query() {
		if !storeParams[k] {
			return nil, fmt.Errorf("--store %q: unknown parameter %q; %s", s, k, want)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("--store %q: %s given %d times", s, k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return nil, fmt.Errorf("--store %q: endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", s, v)
			}
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "path-style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--store %q: path-style %q: want true or false", s, v)
			}
			cfg.PathStyle = b
		}
	}
	return cfg, nil
}

// String says which stores cfg names, for logs: never a password.
func (c Config) String() string {
	db := "sqlite " + filepath.Join(c.Data, "meta.db")
	if c.DB != "" {
		db = "postgres (unparsable URL)"
		if u, err := url.Parse(c.DB); err == nil {
			db = u.Redacted()
		}
	}
	store := "files in " + c.Data
	if c.Store != "" {
		store = c.Store
	}
	return db + ", " + store
}
