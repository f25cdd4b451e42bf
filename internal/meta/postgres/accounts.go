package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

const userCols = `id, name, email, role, disabled, password_hash, source, subject, quota_bytes, created`

func scanUser(row scanner) (*meta.User, error) {
	var u meta.User
	var created int64
	if err := row.Scan(&u.ID, &u.Name, &u.Email, &u.Role, &u.Disabled, &u.PasswordHash, &u.Source, &u.Subject, &u.QuotaBytes, &created); err != nil {
		return nil, mapErr(err)
	}
	u.Created = fromTS(created)
	return &u, nil
}

// CreateUser inserts u and sets its ID and creation time; an empty Role
// is RoleUser and an empty Source "local".
func (s *Store) CreateUser(ctx context.Context, u *meta.User) error {
	if u.Role == "" {
		u.Role = meta.RoleUser
	}
	if u.Source == "" {
		u.Source = "local"
	}
	u.Created = now()
	id, err := s.insert(ctx, `INSERT INTO users (name, email, role, disabled, password_hash, source, subject, quota_bytes, created)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING id`,
		u.Name, u.Email, u.Role, u.Disabled, u.PasswordHash, u.Source, u.Subject, u.QuotaBytes, ts(u.Created))
	u.ID = id
	return err
}

// User finds a user by id.
func (s *Store) User(ctx context.Context, id int64) (*meta.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// UserByName finds a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (*meta.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = $1`, name))
}

// UserBySubject finds the user a provider knows by subject. An empty
// subject never matches: accounts made without a provider all have one.
func (s *Store) UserBySubject(ctx context.Context, source, subject string) (*meta.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE source = $1 AND subject = $2 AND subject <> ''`, source, subject))
}

// Users lists every account by name, bytewise as SQLite sorts it.
func (s *Store) Users(ctx context.Context) ([]meta.User, error) {
	return query(ctx, s, scanUser, `SELECT `+userCols+` FROM users ORDER BY name COLLATE "C"`)
}

// CountUsers counts accounts.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// UpdateUser writes a user's changeable fields.
func (s *Store) UpdateUser(ctx context.Context, u *meta.User) error {
	return s.exec(ctx, `UPDATE users SET email = $1, role = $2, disabled = $3, password_hash = $4, quota_bytes = $5 WHERE id = $6`,
		u.Email, u.Role, u.Disabled, u.PasswordHash, u.QuotaBytes, u.ID)
}

// Tokens.

const tokenCols = `id, user_id, name, hash, scopes, revoked, created, expires, last_used`

func scanToken(row scanner) (*meta.Token, error) {
	var t meta.Token
	var scopes string
	var created, expires, used int64
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &scopes, &t.Revoked, &created, &expires, &used); err != nil {
		return nil, mapErr(err)
	}
	if scopes != "" {
		t.Scopes = strings.Split(scopes, ",")
	}
	t.Created, t.Expires, t.LastUsed = fromTS(created), fromTS(expires), fromTS(used)
	return &t, nil
}

// CreateToken inserts t and sets its ID and creation time.
func (s *Store) CreateToken(ctx context.Context, t *meta.Token) error {
	t.Created = now()
	id, err := s.insert(ctx, `INSERT INTO tokens (user_id, name, hash, scopes, revoked, created, expires)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`,
		t.UserID, t.Name, t.Hash, strings.Join(t.Scopes, ","), t.Revoked, ts(t.Created), ts(t.Expires))
	t.ID = id
	return err
}

// TokenByHash finds a token by the sha256 of its secret.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*meta.Token, error) {
	return scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = $1`, hash))
}

// Tokens lists a user's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]meta.Token, error) {
	return query(ctx, s, scanToken, `SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 ORDER BY created DESC, id DESC`, userID)
}

// RevokeToken makes a token unusable; it stays listed.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	return s.exec(ctx, `UPDATE tokens SET revoked = true WHERE id = $1`, id)
}

// TouchToken records when a token was last used.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return s.exec(ctx, `UPDATE tokens SET last_used = $1 WHERE id = $2`, ts(at), id)
}

// Teams.

const teamCols = `id, name, description, quota_bytes, created`

func scanTeam(row scanner) (*meta.Team, error) {
	var t meta.Team
	var created int64
	if err := row.Scan(&t.ID, &t.Name, &t.Description, &t.QuotaBytes, &created); err != nil {
		return nil, mapErr(err)
	}
	t.Created = fromTS(created)
	return &t, nil
}

// CreateTeam inserts t and sets its ID and creation time.
func (s *Store) CreateTeam(ctx context.Context, t *meta.Team) error {
	t.Created = now()
	id, err := s.insert(ctx, `INSERT INTO teams (name, description, quota_bytes, created) VALUES ($1,$2,$3,$4) RETURNING id`,
		t.Name, t.Description, t.QuotaBytes, ts(t.Created))
	t.ID = id
	return err
}

// Team finds a team by id.
func (s *Store) Team(ctx context.Context, id int64) (*meta.Team, error) {
	return scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamCols+` FROM teams WHERE id = $1`, id))
}

// TeamByName finds a team by name.
func (s *Store) TeamByName(ctx context.Context, name string) (*meta.Team, error) {
	return scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamCols+` FROM teams WHERE name = $1`, name))
}

// Teams lists every team by name, bytewise as SQLite sorts it.
func (s *Store) Teams(ctx context.Context) ([]meta.Team, error) {
	return query(ctx, s, scanTeam, `SELECT `+teamCols+` FROM teams ORDER BY name COLLATE "C"`)
}

// UpdateTeam writes a team's changeable fields.
func (s *Store) UpdateTeam(ctx context.Context, t *meta.Team) error {
	return s.exec(ctx, `UPDATE teams SET description = $1, quota_bytes = $2 WHERE id = $3`, t.Description, t.QuotaBytes, t.ID)
}

// SetMember adds a user to a team or changes their ownership and source. A
// team or user that does not exist breaks the foreign keys, which is
// ErrNotFound, as in the SQLite store.
func (s *Store) SetMember(ctx context.Context, m meta.Member) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO members (team_id, user_id, owner, source) VALUES ($1,$2,$3,$4)
		ON CONFLICT (team_id, user_id) DO UPDATE SET owner = excluded.owner, source = excluded.source`,
		m.TeamID, m.UserID, m.Owner, m.Source)
	if sqlState(err) == foreignKeyViolation {
		return meta.ErrNotFound
	}
	return mapErr(err)
}

// RemoveMember takes a user out of a team.
func (s *Store) RemoveMember(ctx context.Context, teamID, userID int64) error {
	return s.exec(ctx, `DELETE FROM members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
}

func scanMember(row scanner) (*meta.Member, error) {
	var m meta.Member
	if err := row.Scan(&m.TeamID, &m.UserID, &m.Owner, &m.Source); err != nil {
		return nil, mapErr(err)
	}
	return &m, nil
}

// Members lists a team's members.
func (s *Store) Members(ctx context.Context, teamID int64) ([]meta.Member, error) {
	return query(ctx, s, scanMember, `SELECT team_id, user_id, owner, source FROM members WHERE team_id = $1 ORDER BY user_id`, teamID)
}

// UserTeams lists the teams a user is in.
func (s *Store) UserTeams(ctx context.Context, userID int64) ([]meta.Member, error) {
	return query(ctx, s, scanMember, `SELECT team_id, user_id, owner, source FROM members WHERE user_id = $1 ORDER BY team_id`, userID)
}
