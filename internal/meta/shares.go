package meta

import (
	"context"
	"time"
)

// Share is an expiring link to one image. Only its secret's sha256 is stored.
type Share struct {
	ID        int64
	Hash      string // hex sha256 of the secret in the URL
	ImageID   int64  // the image it grants, and nothing else
	Tag       string // the container:tag it was made for, if any (display only)
	CreatedBy int64
	Created   time.Time
	Expires   time.Time
	Revoked   bool
	Downloads int64
	LastUsed  time.Time
}

// AuditEvent is one line of the audit log. It never holds secrets.
type AuditEvent struct {
	ID     int64
	At     time.Time
	Actor  string // user name, "anonymous", or "share:<id>"
	Action string // "push", "delete", "freeze", "share", "login", "login-failed", ...
	Target string // what it acted on, e.g. an image name
	Remote string // client address
	Detail string
}

// AuditQuery selects audit events, newest first.
type AuditQuery struct {
	Actor  string
	Action string
	Since  time.Time
	Limit  int // 0: no limit
}

// ShareStore keeps share links, the audit log and rate-limit counters.
type ShareStore interface {
	CreateShare(ctx context.Context, s *Share) error
	ShareByHash(ctx context.Context, hash string) (*Share, error)
	Share(ctx context.Context, id int64) (*Share, error)
	// Shares lists the links a user made (all links when createdBy is 0).
	Shares(ctx context.Context, createdBy int64) ([]Share, error)
	RevokeShare(ctx context.Context, id int64) error
	CountShareDownload(ctx context.Context, id int64, at time.Time) error

	AddAudit(ctx context.Context, e *AuditEvent) error
	Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)

	// Hit counts one request against key in the window starting at
	// window, and returns the count so far; older windows are forgotten.
	Hit(ctx context.Context, key string, window time.Time) (int64, error)
}
