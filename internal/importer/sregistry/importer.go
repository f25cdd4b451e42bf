package sregistry

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// Options say where sregistry's files are and how to import.
type Options struct {
	// Images is the directory holding sregistry's images (its MEDIA_ROOT,
	// /var/www/images in sregistry's containers), as seen from here.
	Images string
	// MediaRoot is the path sregistry recorded absolute file paths under;
	// default /var/www/images. Such paths are read from Images instead.
	MediaRoot string
	// Entity is the Silo entity sregistry's collections go to; default
	// the registry's default entity.
	Entity string
	// Objects, when set, is sregistry's MinIO bucket, where it kept the
	// images pushed with library://; without it those are skipped.
	Objects Objects
	// DryRun only plans: it reads everything and writes nothing.
	DryRun bool
	// Progress, when set, is told about each image before it is read.
	Progress func(name string)
}

// Importer imports one site into one registry.
type Importer struct {
	reg  *registry.Registry
	op   access.Actor
	opts Options
	site *Site

	users map[int64]int64 // sregistry user id → Silo user id
	cols  map[int64]*colState
	rows  map[int64]ref.Ref // imported container rows: sregistry id → name:tag
	rep   *Report
}

type colState struct {
	name    string
	silo    int64
	creator int64 // the Silo user the collection was created for
	failed  bool
}

// New prepares an import of site into reg, done as op (an admin or the
// operator).
func New(reg *registry.Registry, op access.Actor, site *Site, opts Options) *Importer {
	if opts.MediaRoot == "" {
		opts.MediaRoot = "/var/www/images"
	}
	if opts.Entity == "" {
		opts.Entity = reg.Defaults().Entity
	}
	return &Importer{reg: reg, op: op, opts: opts, site: site, users: map[int64]int64{}, cols: map[int64]*colState{}, rows: map[int64]ref.Ref{}, rep: &Report{DryRun: opts.DryRun}}
}

// Run imports (or, with DryRun, plans) everything and reports on each
// item. An error is returned only when the registry itself fails; what
// cannot be imported is reported as skipped, with why.
func (im *Importer) Run(ctx context.Context) (*Report, error) {
	steps := []func(context.Context) error{im.importUsers, im.importTeams, im.importCollections, im.importImages, im.importShares, im.importStars, im.reportRest}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return im.rep, err
		}
	}
	return im.rep, nil
}

// fatal tells registry faults (stop; running again continues) from
// refusals of one item (report it and go on).
func fatal(err error) bool { return registry.KindOf(err) == registry.Internal }

// siloName is the Silo account name of an sregistry user: the same, or
// lower-cased when that makes it valid and no other user has it (Silo
// names are lower-case, and signed requests are matched without case).
func (im *Importer) siloName(name string) (string, error) {
	if err := ref.ValidName(name); err == nil {
		return name, nil
	}
	low := strings.ToLower(name)
	if err := ref.ValidName(low); err != nil {
		return "", err
	}
	for _, o := range im.site.Users {
		if o.Name != name && strings.ToLower(o.Name) == low {
			return "", fmt.Errorf("lower-cased it is %q, which another sregistry user's name also becomes", low)
		}
	}
	return low, nil
}

func (im *Importer) importUsers(ctx context.Context) error {
	for _, u := range im.site.Users {
		what := u.Name
		name, err := im.siloName(u.Name)
		if err != nil {
			im.rep.skip("user", what, fmt.Sprintf("%q is not a valid Silo name (%v); its collections keep their other owners", u.Name, err))
			continue
		}
		if name != u.Name {
			what = u.Name + " → " + name
		}
		u.Name = name
		if im.opts.DryRun {
			im.users[u.ID] = 0 // planned: later steps plan what depends on it
			role := "user"
			if u.Super || u.Staff {
				role = "admin"
			}
			im.rep.plan("user", what, role)
			continue
		}
		su, created, err := im.reg.ImportUser(ctx, im.op, u.Name, u.Email, u.Super || u.Staff, !u.Active, u.Token)
		if err != nil {
			if fatal(err) {
				return err
			}
			im.rep.skip("user", what, err.Error())
			continue
		}
		im.users[u.ID] = su.ID
		detail := ""
		if u.Super || u.Staff {
			detail = "admin (sregistry superuser/staff)"
		}
		if !u.Active {
			detail = strings.TrimSpace(detail + " disabled")
		}
		if u.HasToken {
			has, err := im.reg.HasSregistrySecret(ctx, su.ID, u.Token)
			switch {
			case err != nil:
				return err
			case created:
				detail = strings.TrimSpace(detail + " token kept")
			case !has:
				im.rep.skip("token", what, "a Silo account of this name existed before the import; it does not get the sregistry user's token (give it a secret with `silo sregistry-secret "+u.Name+"` if it is the same person)")
			}
		}
		im.rep.done("user", what, created, detail)
	}
	return nil
}

func (im *Importer) silo(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if s, ok := im.users[id]; ok {
			out = append(out, s)
		}
	}
	return out
}

func (im *Importer) importTeams(ctx context.Context) error {
	for _, t := range im.site.Teams {
		if err := ref.ValidName(t.Name); err != nil {
			im.rep.skip("team", t.Name, fmt.Sprintf("not a valid Silo name (%v)", err))
			continue
		}
		if im.opts.DryRun {
			if tv, err := im.reg.Team(ctx, im.op, t.Name); err == nil && tv.Team.Description != registry.ImportedDescription {
				im.rep.skip("team", t.Name, "a Silo team of that name exists already and was not made by an import")
				continue
			}
			im.rep.plan("team", t.Name, fmt.Sprintf("%d owners, %d members", len(t.Owners), len(t.Members)))
			continue
		}
		_, created, err := im.reg.ImportTeam(ctx, im.op, t.Name, im.silo(t.Owners), im.silo(t.Members))
		if err != nil {
			if fatal(err) {
				return err
			}
			im.rep.skip("team", t.Name, err.Error())
			continue
		}
		im.rep.done("team", t.Name, created, "")
	}
	return nil
}

// CollectionTeam names the team made for a collection with more than one
// owner or with contributors: Silo collections have one creator, and
// further people reach them through a team.
func CollectionTeam(collection string) string { return collection + "-owners" }

func (im *Importer) importCollections(ctx context.Context) error {
	for _, c := range im.site.Collections {
		st := &colState{name: c.Name}
		im.cols[c.ID] = st
		if err := ref.ValidName(c.Name); err != nil {
			st.failed = true
			im.rep.skip("collection", c.Name, fmt.Sprintf("not a valid Silo name (%v); its containers are skipped too", err))
			continue
		}
		people := len(c.Owners) + len(c.Contributors)
		detail := "public"
		if c.Private {
			detail = "private"
		}
		if im.opts.DryRun {
			if _, col, err := im.reg.Collection(ctx, im.op, im.opts.Entity, c.Name); err == nil && col.Description != registry.ImportedDescription {
				st.failed = true
				im.rep.skip("collection", c.Name, "a Silo collection of that name exists already and was not made by an import; its images are left alone")
				continue
			}
			if people > 1 {
				detail += ", team " + CollectionTeam(c.Name)
			}
			im.rep.plan("collection", c.Name, detail)
			continue
		}
		var creator, team int64
		if owners := im.silo(c.Owners); len(owners) > 0 {
			creator = owners[0]
		}
		if people > 1 {
			// Contributors could see a private collection in sregistry; in
			// Silo that takes team membership, which also lets them push.
			t, _, err := im.reg.ImportTeam(ctx, im.op, CollectionTeam(c.Name), im.silo(c.Owners), im.silo(c.Contributors))
			if err != nil {
				if fatal(err) {
					return err
				}
				st.failed = true
				im.rep.skip("collection", c.Name, "its owners' team: "+err.Error())
				continue
			}
			team = t.ID
			detail += ", team " + t.Name
		}
		col, created, err := im.reg.ImportCollection(ctx, im.op, im.opts.Entity, c.Name, c.Private, creator, team)
		if err != nil {
			if fatal(err) {
				return err
			}
			st.failed = true
			im.rep.skip("collection", c.Name, err.Error())
			continue
		}
		st.silo, st.creator = col.ID, creator
		im.rep.done("collection", c.Name, created, detail)
	}
	return nil
}

// path is where a recorded datafile is read from.
func (im *Importer) path(datafile string) (string, error) {
	if filepath.IsAbs(datafile) {
		root := strings.TrimRight(im.opts.MediaRoot, "/") + "/"
		if rel, ok := strings.CutPrefix(datafile, root); ok {
			datafile = rel
		} else {
			return datafile, nil
		}
	}
	clean := filepath.Clean(datafile)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("file path %q leaves the images directory", datafile)
	}
	return filepath.Join(im.opts.Images, clean), nil
}

// hashes returns the sha256 and md5 of what r reads, in one read.
func hashes(r io.Reader) (sha, md string, err error) {
	hs, hm := sha256.New(), md5.New()
	_, err = io.Copy(io.MultiWriter(hs, hm), r)
	return hex.EncodeToString(hs.Sum(nil)), hex.EncodeToString(hm.Sum(nil)), err
}

// checkVersion compares a file's digests with the version sregistry
// recorded: "sha256.<hex>" once its background job ran, the upload's md5
// before.
func checkVersion(version, sha, md string) error {
	switch {
	case version == "":
		return nil
	case strings.HasPrefix(version, "sha256."):
		if strings.TrimPrefix(version, "sha256.") != sha {
			return fmt.Errorf("the file hashes to sha256.%s, not its recorded version %s: damaged or replaced", sha, version)
		}
	case len(version) == 32:
		if version != md {
			return fmt.Errorf("the file's md5 is %s, not its recorded version %s: damaged or replaced", md, version)
		}
	}
	return nil
}
