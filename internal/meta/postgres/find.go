package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/siloreg/silo/internal/meta"
)

// likeEscape makes s match literally inside a LIKE pattern whose escape
// character is a backslash.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// tagBatch is how many images' tags one query fetches. PostgreSQL would take
// every id as one array parameter, but an unlimited listing of a big
// registry would then build one huge array and one huge result at once.
const tagBatch = 5000

// Find returns uploaded images matching q, newest first, with their names and tags.
func (s *Store) Find(ctx context.Context, q meta.Query) ([]meta.ImageRecord, error) {
	var args []any
	// arg adds a parameter and returns its placeholder, so a value used
	// several times (the text pattern) is sent once.
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := []string{`i.uploaded`}
	if q.Entity != "" {
		where = append(where, `e.name = `+arg(q.Entity))
	}
	if q.Collection != "" {
		where = append(where, `co.name = `+arg(q.Collection))
	}
	if q.Container != "" {
		where = append(where, `c.name = `+arg(q.Container))
	}
	if q.Arch != "" {
		where = append(where, `i.arch = `+arg(q.Arch))
	}
	if q.SignedOnly {
		where = append(where, `i.signed`)
	}
	if q.Text != "" {
		// lower() on both sides rather than strings.ToLower on the pattern
		// alone, so the two are folded by the same rules (the database's).
		p := `lower(` + arg("%"+likeEscape(q.Text)+"%") + `::TEXT)`
		like := func(col string) string { return `lower(` + col + `) LIKE ` + p + ` ESCAPE '\'` }
		// Labels are searched value by value through jsonb_each_text:
		// matching the JSON text would also match keys, quotes and braces,
		// and miss values JSON escapes.
		where = append(where, `(`+like(`e.name`)+` OR `+like(`co.name`)+` OR `+like(`c.name`)+`
			OR `+like(`i.description`)+`
			OR EXISTS (SELECT 1 FROM jsonb_each_text(i.labels) l WHERE `+like(`l.value`)+`)
			OR EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND `+like(`t.name`)+`))`)
	}
	sql := `SELECT ` + imageCols + `, e.name, co.name, c.name, co.private, c.frozen, e.owner_id, co.created_by, co.team_id, e.team_id
		FROM images i JOIN containers c ON c.id = i.container_id
		JOIN collections co ON co.id = c.collection_id
		JOIN entities e ON e.id = co.entity_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY i.updated DESC, i.id DESC`
	if q.Limit > 0 {
		sql += ` LIMIT ` + arg(q.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := scanAll(rows, func(row scanner) (*meta.ImageRecord, error) {
		var r meta.ImageRecord
		im, err := scanImage(row, &r.Entity, &r.Collection, &r.Container, &r.Private, &r.Frozen, &r.OwnerID, &r.CreatedBy, &r.TeamID, &r.EntityTeam)
		if err != nil {
			return nil, err
		}
		r.Image = *im
		return &r, nil
	})
	if err != nil {
		return nil, err
	}
	index := make(map[int64]int, len(out))
	for i, r := range out {
		index[r.ID] = i
	}
	// Tags in a few queries, not one per image.
	for start := 0; start < len(out); start += tagBatch {
		part := out[start:min(start+tagBatch, len(out))]
		ids := make([]int64, len(part))
		for i, r := range part {
			ids[i] = r.ID
		}
		tags, err := query(ctx, s, scanTag, `SELECT container_id, arch, name, image_id, updated FROM tags
			WHERE image_id = ANY($1) ORDER BY name COLLATE "C"`, ids)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			r := &out[index[t.ImageID]]
			r.Tags = append(r.Tags, t)
		}
	}
	return out, nil
}
