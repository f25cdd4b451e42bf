// Package metatest is the conformance suite every meta.Store backend must
// pass. It checks only what meta.go promises, so that the SQLite store and
// the later PostgreSQL store are interchangeable behind the interface; a
// backend's own quirks (file handling, migrations) belong in its own tests.
package metatest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/siloreg/silo/internal/meta"
)

// missing is an id no test ever creates: the suite makes at most a few
// hundred rows per store, so ids stay far below it in any sane backend.
const missing = int64(1) << 40

// Run runs the conformance suite against stores made by newStore (a fresh,
// empty store per subtest). Run closes each store when its subtest ends and
// fails the subtest if Close fails, so newStore must not close it itself.
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"Ping", testPing},
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"UserFields", testUserFields},
		{"TokenFields", testTokenFields},
		{"Teams", testTeams},
		{"Members", testMembers},
		{"MemberSource", testMemberSource},
		{"TeamNames", testTeamNames},
		{"Entities", testEntities},
		{"Collections", testCollections},
		{"Containers", testContainers},
		{"ContainerByPath", testContainerByPath},
		{"TaggedImages", testTaggedImages},
		{"Images", testImages},
		{"ImageDigestUniqueness", testImageDigestUniqueness},
		{"CompleteImage", testCompleteImage},
		{"AddDownload", testAddDownload},
		{"DeleteImage", testDeleteImage},
		{"DigestInUse", testDigestInUse},
		{"StaleImages", testStaleImages},
		{"Tags", testTags},
		{"Find", testFind},
		{"FindTags", testFindTags},
		{"FindTeams", testFindTeams},
		{"UsageBytes", testUsageBytes},
		{"UsageBytesOCI", testUsageBytesOCI},
		{"Shares", testShares},
		{"Stars", testStars},
		{"Audit", testAudit},
		{"Hit", testHit},
		{"Settings", testSettings},
		{"SetSetting", testSetSetting},
		{"FarTimes", testFarTimes},
		{"Uploads", testUploads},
		{"SregistrySecrets", testSregistrySecrets},
		{"AdvanceUpload", testAdvanceUpload},
		{"ExpiredUploads", testExpiredUploads},
		{"OCIManifests", testOCIManifests},
		{"OCITags", testOCITags},
		{"BlobLinks", testBlobLinks},
		{"OCIUploads", testOCIUploads},
		{"ConcurrentWrites", testConcurrentWrites},
		{"RaceCreateEntity", testRaceCreateEntity},
		{"RaceAdvanceUpload", testRaceAdvanceUpload},
		{"RaceInitSetting", testRaceInitSetting},
		{"RaceHit", testRaceHit},
		{"RaceShareDownload", testRaceShareDownload},
		{"Tables", testTables},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func testPing(t *testing.T, s meta.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// digest returns a valid image digest (64 lower-case hex) derived from seed,
// so tests can name distinct digests readably.
func digest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])
}

// odd is a time with a non-UTC zone and nanoseconds, so a backend that keeps
// the zone, or stores less than microsecond precision, is caught.
func odd(year int, nsec int) time.Time {
	return time.Date(year, time.March, 14, 15, 9, 26, nsec, time.FixedZone("UTC-7", -7*3600))
}

// wantErr fails unless err wraps target; what names the call.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// checkTime checks that a time read back from the store is the one written:
// zero stays zero, anything else is in UTC and within a microsecond.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want the zero time", what, got)
		}
		return
	}
	if got.Location() != time.UTC {
		t.Errorf("%s = %v, want it in UTC", what, got)
	}
	if d := got.Sub(want); d <= -time.Microsecond || d >= time.Microsecond {
		t.Errorf("%s = %v, want %v (off by %v)", what, got, want, d)
	}
}

// checkRecent checks a time the store set itself: present, UTC and near now.
// The window is wide because a database server's clock may drift from ours.
func checkRecent(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.IsZero() {
		t.Errorf("%s is zero, want it set by the store", what)
		return
	}
	if got.Location() != time.UTC {
		t.Errorf("%s = %v, want it in UTC", what, got)
	}
	if d := time.Since(got); d < -time.Hour || d > time.Hour {
		t.Errorf("%s = %v, more than an hour from now", what, got)
	}
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	labelsType = reflect.TypeFor[map[string]string]()
	bytesType  = reflect.TypeFor[[]byte]()
)

// same compares two values of one struct type (or pointers to them) field by
// field: times with checkTime, label maps and byte slices treating nil as
// empty (a backend need not remember which it was given), embedded structs
// recursively and everything else exactly.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Kind() == reflect.Pointer {
		if g.IsNil() {
			t.Errorf("%s is nil", what)
			return
		}
		g, w = g.Elem(), w.Elem()
	}
	sameValue(t, what, g, w)
}

func sameValue(t *testing.T, what string, g, w reflect.Value) {
	t.Helper()
	for i := range g.NumField() {
		f := g.Type().Field(i)
		name := what + "." + f.Name
		gf, wf := g.Field(i), w.Field(i)
		switch {
		case f.Type == timeType:
			checkTime(t, name, gf.Interface().(time.Time), wf.Interface().(time.Time))
		case f.Type == labelsType:
			gm, wm := gf.Interface().(map[string]string), wf.Interface().(map[string]string)
			if (len(gm) != 0 || len(wm) != 0) && !reflect.DeepEqual(gm, wm) {
				t.Errorf("%s = %q, want %q", name, gm, wm)
			}
		case f.Type == bytesType:
			if gb, wb := gf.Bytes(), wf.Bytes(); !bytes.Equal(gb, wb) {
				t.Errorf("%s = %x, want %x", name, gb, wb)
			}
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			sameValue(t, what, gf, wf)
		default:
			if !reflect.DeepEqual(gf.Interface(), wf.Interface()) {
				t.Errorf("%s = %#v, want %#v", name, gf.Interface(), wf.Interface())
			}
		}
	}
}

// The helpers below build the rows a test needs and stop the test if the
// store cannot even do that, since nothing after would mean anything.

func mustUser(t *testing.T, s meta.Store, name string) *meta.User {
	t.Helper()
	u := &meta.User{Name: name, Email: name + "@example.org"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func mustEntity(t *testing.T, s meta.Store, name string, ownerID int64) *meta.Entity {
	t.Helper()
	e := &meta.Entity{Name: name, OwnerID: ownerID}
	if err := s.CreateEntity(t.Context(), e); err != nil {
		t.Fatalf("CreateEntity(%q): %v", name, err)
	}
	return e
}

func mustCollection(t *testing.T, s meta.Store, entityID int64, name string, private bool) *meta.Collection {
	t.Helper()
	c := &meta.Collection{EntityID: entityID, Name: name, Private: private}
	if err := s.CreateCollection(t.Context(), c); err != nil {
		t.Fatalf("CreateCollection(%q): %v", name, err)
	}
	return c
}

func mustContainer(t *testing.T, s meta.Store, collectionID int64, name string) *meta.Container {
	t.Helper()
	c := &meta.Container{CollectionID: collectionID, Name: name}
	if err := s.CreateContainer(t.Context(), c); err != nil {
		t.Fatalf("CreateContainer(%q): %v", name, err)
	}
	return c
}

// tree is the smallest name tree an image can live in.
type tree struct {
	user       *meta.User
	entity     *meta.Entity
	collection *meta.Collection
	container  *meta.Container
}

// mustTree makes user, entity, collection and container all named name.
func mustTree(t *testing.T, s meta.Store, name string) tree {
	t.Helper()
	var tr tree
	tr.user = mustUser(t, s, name)
	tr.entity = mustEntity(t, s, name, tr.user.ID)
	tr.collection = mustCollection(t, s, tr.entity.ID, name, false)
	tr.container = mustContainer(t, s, tr.collection.ID, name)
	return tr
}

// mustImage creates a not yet uploaded image named by seed.
func mustImage(t *testing.T, s meta.Store, containerID int64, seed string) *meta.Image {
	t.Helper()
	im := &meta.Image{ContainerID: containerID, Digest: digest(seed)}
	if err := s.CreateImage(t.Context(), im); err != nil {
		t.Fatalf("CreateImage(%q): %v", seed, err)
	}
	return im
}

// mustUploaded creates im and then completes it, as a push does.
func mustUploaded(t *testing.T, s meta.Store, im *meta.Image) *meta.Image {
	t.Helper()
	if err := s.CreateImage(t.Context(), im); err != nil {
		t.Fatalf("CreateImage(%s): %v", im.Digest, err)
	}
	if err := s.CompleteImage(t.Context(), im); err != nil {
		t.Fatalf("CompleteImage(%d): %v", im.ID, err)
	}
	im.Uploaded = true // whether CompleteImage says so in im is not promised
	return im
}

func mustTag(t *testing.T, s meta.Store, containerID int64, arch, name string, imageID int64) {
	t.Helper()
	if err := s.SetTag(t.Context(), meta.Tag{ContainerID: containerID, Arch: arch, Name: name, ImageID: imageID}); err != nil {
		t.Fatalf("SetTag(%s/%s → %d): %v", arch, name, imageID, err)
	}
}
