// Package sregistry moves a running Singularity Registry Server into Silo
// (`silo import`): it reads sregistry's PostgreSQL database (the tables
// Django makes from its models: users_user, authtoken_token, users_team,
// main_collection, main_container, api_imagefile, main_share, main_star,
// main_label), its image files and the objects of its MinIO bucket
// (library:// pushes), and recreates the accounts, teams, collections,
// containers, tags, frozen flags, share links and stars through internal/registry,
// verifying every image's digest. Run again, it changes nothing that is
// already there, so an interrupted import is finished by running it again.
package sregistry

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a row of users_user with its authtoken_token key.
type User struct {
	ID       int64
	Name     string
	Email    string
	Super    bool // is_superuser
	Staff    bool // is_staff
	Active   bool // is_active and sregistry's own active flag
	Token    string
	HasToken bool
}

// Team is users_team with its owners and members.
type Team struct {
	ID      int64
	Name    string
	Owners  []int64
	Members []int64
}

// Collection is main_collection with its owners and contributors.
type Collection struct {
	ID           int64
	Name         string
	Private      bool
	Owners       []int64
	Contributors []int64
}

// Container is one main_container row: a name:tag in a collection, and
// the file api_imagefile points at.
type Container struct {
	ID           int64
	CollectionID int64
	Name         string
	Tag          string
	Version      string
	Frozen       bool
	File         string // api_imagefile.datafile; "" when the row has no file
}

// Share is a main_share row.
type Share struct {
	ID          int64
	ContainerID int64
	Secret      string
	Expires     time.Time
}

// Star is a main_star row: a user starred a collection.
type Star struct {
	UserID       int64
	CollectionID int64
}

// Site is everything read from an sregistry database.
type Site struct {
	Users       []User
	Teams       []Team
	Collections []Collection
	Containers  []Container
	Shares      []Share
	Stars       []Star
	Labels      int
}

// Read loads a site from the sregistry database at dsn. It only reads.
func Read(ctx context.Context, dsn string) (*Site, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connecting to the sregistry database: %w", err)
	}
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	s := &Site{}
	q := func(what, sql string, scan func(pgx.Rows) error) error {
		rows, err := tx.Query(ctx, sql)
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("reading %s: %w", what, err)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		return nil
	}
	err = q("users", `SELECT u.id, u.username, u.email, u.is_superuser, u.is_staff, u.is_active AND u.active, coalesce(t.key, ''), t.key IS NOT NULL
		FROM users_user u LEFT JOIN authtoken_token t ON t.user_id = u.id ORDER BY u.id`, func(r pgx.Rows) error {
		var u User
		err := r.Scan(&u.ID, &u.Name, &u.Email, &u.Super, &u.Staff, &u.Active, &u.Token, &u.HasToken)
		s.Users = append(s.Users, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	teams := map[int64]*Team{}
	err = q("teams", `SELECT id, name FROM users_team ORDER BY id`, func(r pgx.Rows) error {
		var t Team
		err := r.Scan(&t.ID, &t.Name)
		s.Teams = append(s.Teams, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range s.Teams {
		teams[s.Teams[i].ID] = &s.Teams[i]
	}
	for _, m := range []struct {
		table string
		add   func(*Team, int64)
	}{
		{"users_team_owners", func(t *Team, u int64) { t.Owners = append(t.Owners, u) }},
		{"users_team_members", func(t *Team, u int64) { t.Members = append(t.Members, u) }},
	} {
		err = q(m.table, `SELECT team_id, user_id FROM `+m.table+` ORDER BY team_id, user_id`, func(r pgx.Rows) error {
			var tid, uid int64
			if err := r.Scan(&tid, &uid); err != nil {
				return err
			}
			if t := teams[tid]; t != nil {
				m.add(t, uid)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = q("collections", `SELECT id, name, private FROM main_collection ORDER BY id`, func(r pgx.Rows) error {
		var c Collection
		err := r.Scan(&c.ID, &c.Name, &c.Private)
		s.Collections = append(s.Collections, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	cols := map[int64]*Collection{}
	for i := range s.Collections {
		cols[s.Collections[i].ID] = &s.Collections[i]
	}
	for _, m := range []struct {
		table string
		add   func(*Collection, int64)
	}{
		{"main_collection_owners", func(c *Collection, u int64) { c.Owners = append(c.Owners, u) }},
		{"main_collection_contributors", func(c *Collection, u int64) { c.Contributors = append(c.Contributors, u) }},
	} {
		err = q(m.table, `SELECT collection_id, user_id FROM `+m.table+` ORDER BY collection_id, user_id`, func(r pgx.Rows) error {
			var cid, uid int64
			if err := r.Scan(&cid, &uid); err != nil {
				return err
			}
			if c := cols[cid]; c != nil {
				m.add(c, uid)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = q("containers", `SELECT c.id, c.collection_id, c.name, c.tag, coalesce(c.version, ''), c.frozen, coalesce(f.datafile, '')
		FROM main_container c LEFT JOIN api_imagefile f ON f.id = c.image_id ORDER BY c.id`, func(r pgx.Rows) error {
		var c Container
		err := r.Scan(&c.ID, &c.CollectionID, &c.Name, &c.Tag, &c.Version, &c.Frozen, &c.File)
		s.Containers = append(s.Containers, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = q("share links", `SELECT id, container_id, coalesce(secret, ''), expire_date FROM main_share ORDER BY id`, func(r pgx.Rows) error {
		var sh Share
		err := r.Scan(&sh.ID, &sh.ContainerID, &sh.Secret, &sh.Expires)
		s.Shares = append(s.Shares, sh)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = q("stars", `SELECT user_id, collection_id FROM main_star ORDER BY id`, func(r pgx.Rows) error {
		var st Star
		err := r.Scan(&st.UserID, &st.CollectionID)
		s.Stars = append(s.Stars, st)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM main_label`).Scan(&s.Labels); err != nil {
		return nil, fmt.Errorf("reading labels: %w", err)
	}
	sort.SliceStable(s.Containers, func(i, j int) bool { return s.Containers[i].ID < s.Containers[j].ID })
	return s, nil
}
