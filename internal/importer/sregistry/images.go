package sregistry

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
)

// importImages imports every container row (a name:tag) as a tag of an
// image in a Silo container, then freezes the containers that had a
// frozen row. sregistry freezes per name:tag, Silo per container: a
// container with any frozen tag is frozen whole, which never allows
// something sregistry forbade.
func (im *Importer) importImages(ctx context.Context) error {
	type group struct {
		col    *colState
		name   string
		rows   []Container
		frozen bool
	}
	groups := map[string]*group{}
	var order []string
	for _, c := range im.site.Containers {
		st := im.cols[c.CollectionID]
		if st == nil {
			im.rep.skip("image", fmt.Sprintf("#%d %s:%s", c.ID, c.Name, c.Tag), "its collection does not exist")
			continue
		}
		key := st.name + "/" + c.Name
		g := groups[key]
		if g == nil {
			g = &group{col: st, name: c.Name}
			groups[key] = g
			order = append(order, key)
		}
		g.rows = append(g.rows, c)
		g.frozen = g.frozen || c.Frozen
	}
	sort.Strings(order)
	for _, key := range order {
		g := groups[key]
		cref := ref.Ref{Entity: im.opts.Entity, Collection: g.col.name, Container: g.name}
		var todo []pending
		for _, c := range g.rows {
			what := key + ":" + c.Tag
			if g.col.failed {
				im.rep.skip("image", what, "its collection was not imported")
				continue
			}
			p, err := im.prepare(ctx, cref, c)
			if err != nil {
				im.rep.skip("image", what, err.Error())
				continue
			}
			if p.present {
				im.rows[c.ID] = p.rf
				im.rep.done("image", what, false, "sha256."+p.sha)
				continue
			}
			if im.opts.DryRun {
				im.rep.plan("image", what, fmt.Sprintf("%d bytes", p.size))
				continue
			}
			p.row = c.ID
			todo = append(todo, p)
		}
		if im.opts.DryRun {
			if g.frozen && !g.col.failed {
				im.rep.plan("freeze", key, "")
			}
			continue
		}
		if len(todo) > 0 {
			// A container frozen by an earlier, interrupted run thaws
			// while its missing tags arrive.
			if err := im.reg.SetFrozen(ctx, im.op, cref, false); err != nil && registry.KindOf(err) != registry.NotFound {
				return err
			}
		}
		for _, p := range todo {
			if err := im.push(ctx, p); err != nil {
				if fatal(err) {
					return err
				}
				im.rep.skip("image", p.what, err.Error())
			}
		}
		if g.frozen && !g.col.failed {
			if err := im.reg.SetFrozen(ctx, im.op, cref, true); err != nil && registry.KindOf(err) != registry.NotFound {
				return err
			}
			im.rep.note("freeze", key, "frozen (sregistry froze at least one of its tags)")
		}
	}
	return nil
}

type pending struct {
	row     int64
	what    string
	rf      ref.Ref
	open    func(context.Context) (io.ReadCloser, error) // the image's bytes
	sha     string
	size    int64
	present bool
}

// prepare checks a row can be imported: a valid name, a file that exists
// and, outside a dry run, hashes to its recorded version. It finds out
// whether the tag already names those bytes.
func (im *Importer) prepare(ctx context.Context, cref ref.Ref, c Container) (pending, error) {
	rf := cref
	rf.Tag = c.Tag
	p := pending{what: cref.Collection + "/" + cref.Container + ":" + c.Tag, rf: rf}
	if err := ref.ValidName(c.Name); err != nil {
		return p, fmt.Errorf("container name %q is not a valid Silo name (%v)", c.Name, err)
	}
	if strings.HasPrefix(c.Tag, "DUMMY-") {
		return p, fmt.Errorf("an unfinished library:// push (sregistry's placeholder tag %s was never replaced)", c.Tag)
	}
	if err := ref.ValidTag(c.Tag); err != nil {
		return p, fmt.Errorf("tag %q is not a valid Silo tag (%v)", c.Tag, err)
	}
	// A tag that names the recorded sha256 already was verified when it
	// was imported: running again need not read the image, nor even find
	// it (the old site may be gone by then).
	if sha, ok := strings.CutPrefix(c.Version, "sha256."); ok && im.tagNames(ctx, rf, sha) {
		p.sha, p.present = sha, true
		return p, nil
	}
	if err := im.source(ctx, &p, cref.Collection, c); err != nil {
		return p, err
	}
	if im.opts.DryRun {
		return p, nil
	}
	if im.opts.Progress != nil {
		im.opts.Progress(p.what)
	}
	r, err := p.open(ctx)
	if err != nil {
		return p, fmt.Errorf("reading the image: %v", err)
	}
	sha, md, err := hashes(r)
	r.Close()
	if err != nil {
		return p, fmt.Errorf("reading the image: %v", err)
	}
	if err := checkVersion(c.Version, sha, md); err != nil {
		return p, err
	}
	p.sha = sha
	p.present = im.tagNames(ctx, rf, sha)
	return p, nil
}

// tagNames reports whether rf is an uploaded image with digest sha.
func (im *Importer) tagNames(ctx context.Context, rf ref.Ref, sha string) bool {
	iv, err := im.reg.ResolveImage(ctx, im.op, rf, "")
	return err == nil && iv.Image.Digest == sha && iv.Image.Uploaded
}

// source finds where a row's image is: the file api_imagefile names, or,
// for a library:// push (no file, a sha256 version), its object in
// sregistry's MinIO bucket.
func (im *Importer) source(ctx context.Context, p *pending, collection string, c Container) error {
	if c.File != "" {
		path, err := im.path(c.File)
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("image file: %v", err)
		}
		p.size = fi.Size()
		p.open = func(context.Context) (io.ReadCloser, error) { return os.Open(path) }
		return nil
	}
	if !strings.HasPrefix(c.Version, "sha256.") {
		return fmt.Errorf("sregistry has no image file for it (a remote build, or its file was deleted)")
	}
	key := MinIOKey(collection, c.Name, c.Version)
	objs := im.opts.Objects
	if objs == nil {
		return fmt.Errorf("a library:// push, kept in sregistry's MinIO bucket as %q: give --minio-endpoint and --minio-bucket to import it", key)
	}
	size, err := objs.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("MinIO object %q in %s: %v", key, objs.Where(), err)
	}
	p.size = size
	p.open = func(ctx context.Context) (io.ReadCloser, error) { return objs.Open(ctx, key) }
	return nil
}

// push streams the file into the registry, which hashes it again on the
// way: the bytes stored are the bytes verified, even if the file changed
// in between.
func (im *Importer) push(ctx context.Context, p pending) error {
	f, err := p.open(ctx)
	if err != nil {
		return fmt.Errorf("reading the image: %v", err)
	}
	defer f.Close()
	iv, err := im.reg.PushStream(ctx, im.op, p.rf, f)
	if err != nil {
		return err
	}
	if iv.Image.Digest != p.sha {
		return fmt.Errorf("the file changed while it was imported (now sha256.%s); run the import again", iv.Image.Digest)
	}
	im.rows[p.row] = p.rf
	im.rep.done("image", p.what, true, "sha256."+p.sha)
	return nil
}

// reportRest reports what Silo does not take over.
func (im *Importer) reportRest(context.Context) error {
	if im.site.Labels > 0 {
		im.rep.note("labels", fmt.Sprint(im.site.Labels), "not copied: Silo reads each image's labels from the SIF itself")
	}
	im.rep.note("passwords", "", "not imported: sregistry keeps Django password hashes Silo cannot check; users sign in with their token, or an admin sets a password (silo user passwd)")
	return nil
}

// importShares keeps sregistry's unexpired share links: same secret, same
// expiry, same image, made in the name of the collection's creator. Silo
// serves them at sregistry's old URL, /containers/<id>/download/share/<secret>.
func (im *Importer) importShares(ctx context.Context) error {
	now := time.Now()
	colOf := map[int64]*colState{}
	for _, c := range im.site.Containers {
		colOf[c.ID] = im.cols[c.CollectionID]
	}
	for _, sh := range im.site.Shares {
		what := fmt.Sprintf("#%d (container #%d, expires %s)", sh.ID, sh.ContainerID, sh.Expires.UTC().Format(time.RFC3339))
		if !sh.Expires.After(now) {
			im.rep.skip("share", what, "expired")
			continue
		}
		if im.opts.DryRun {
			im.rep.plan("share", what, "")
			continue
		}
		rf, ok := im.rows[sh.ContainerID]
		col := colOf[sh.ContainerID]
		if !ok || col == nil {
			im.rep.skip("share", what, "its image was not imported")
			continue
		}
		if col.creator == 0 {
			im.rep.skip("share", what, "its collection has no owner in Silo to make the link")
			continue
		}
		created, err := im.reg.ImportShare(ctx, im.op, rf, sh.Secret, sh.Expires, col.creator)
		if err != nil {
			if fatal(err) {
				return err
			}
			im.rep.skip("share", what, err.Error())
			continue
		}
		im.rep.done("share", what, created, rf.Collection+"/"+rf.Container+":"+rf.Tag)
	}
	return nil
}
