package authz_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/siloreg/silo/internal/meta"
)

// mutating are the actions that change the registry's contents when
// allowed (share, collection and users change other things, which the
// cells do not depend on).
var mutating = []string{"push-new", "push-tag", "delete", "freeze"}

// cell runs one cell: every probe of the action as the actor, each
// checked against want. For an actor who may not see the private image
// (hidden), and in every cell whose answer is to be "hide" (a dead share
// link, in either world), every named probe is run again about a name (or
// link) that does not exist and must get the same answers; and no answer
// to an actor who may not see the private image may name it.
// A refused cell must leave the registry as it was; an allowed write must
// change it, and is then undone. It returns what was observed, for the
// summary grid: one word, or the words of the protocols that disagree.
func (w *world) cell(t *testing.T, who, act, want string, hidden bool) string {
	cr := w.creds[who]
	isLink := cr.link != ""
	cid, iid := w.ids(t)
	n := names{collection: collection, search: collection, newName: fmt.Sprintf("n%d", w.next()), link: cr.link,
		containerID: cid, imageID: iid}
	twin := n
	twin.containerID = twinContainerID
	// A name of its own, in case the twin run creates it (when a write is
	// wrongly allowed): a later cell's twin must find nothing there. It is
	// as long as the real one, so that even Content-Length must agree.
	twin.collection = fmt.Sprintf("%s%04d", twinCollection, w.next())
	twin.search = twin.collection
	if isLink {
		twin.link = strings.Replace(cr.link, secretOf(cr.link), unknownSecret(t), 1)
	}
	before := w.contents(t)
	rec := &recorder{base: w.transport}
	var seen []string
	for _, p := range w.probes(act, cr) {
		mark := rec.len()
		got := p.run(&call{t: t, w: w, rec: rec, tok: cr.token, sreg: cr.sreg, n: n})
		ex := rec.since(mark)
		if !slices.Contains(seen, got) {
			seen = append(seen, got)
		}
		if got != want {
			t.Errorf("%s: %s, want %s; exchanges:\n%s", p.what, got, want, trace(ex))
		}
		if p.named && (hidden || want == "hide") {
			trec := &recorder{base: w.transport}
			p.run(&call{t: t, w: w, rec: trec, tok: cr.token, sreg: cr.sreg, n: twin})
			sameAsMissing(t, p.what, ex, trec.since(0), variable(n, twin))
		}
		if hidden {
			noLeaks(t, p.what, ex, w.imgA.digest)
		}
	}
	changed := !slices.Equal(w.contents(t), before)
	switch {
	case want != "ok" && changed:
		t.Errorf("to be refused (%s) but answered %s, and the registry changed:\n before %v\n after  %v", want, strings.Join(seen, "/"), before, w.contents(t))
	case want == "ok" && slices.Contains(mutating, act) && !changed:
		t.Errorf("allowed, yet the registry did not change")
	}
	if w.changed(t) {
		w.restore(t)
	}
	return strings.Join(seen, "/")
}

// ids are the current ids of the container and the image under test
// (the image's changes when a delete is undone).
func (w *world) ids(t *testing.T) (container, image string) {
	t.Helper()
	recs, err := w.in.Server.Meta.Find(context.Background(), meta.Query{Entity: entity, Collection: collection, Container: container})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Digest == w.imgA.digest {
			return strconv.FormatInt(r.ContainerID, 10), strconv.FormatInt(r.ID, 10)
		}
	}
	t.Fatalf("the image under test is not at %s/%s/%s", entity, collection, container)
	return "", ""
}

// unknownSecret is a well-formed share secret no link has.
func unknownSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// trace formats exchanges for a failure message.
func trace(ex []exchange) string {
	var b strings.Builder
	for _, e := range ex {
		fmt.Fprintf(&b, "\t%s\n", e)
	}
	return b.String()
}
