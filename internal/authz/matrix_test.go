package authz_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The matrix: what each actor gets for each action on the image under
// test, lab/tools/app:latest, when its collection is public and when it is
// private. It is written from the rules as people state them (the issue,
// internal/access's package comment, docs/architecture.md), not from what
// the code does; where the two differ, the test fails on that cell.
//
// The image lives in the entity of team "lab", in a collection created by
// carol (since removed from the team). The actors:
//
//	anonymous        no credentials
//	user             carol, who created the collection and no longer is in the team
//	other-user       bob, a plain user with no tie to the collection
//	team-member      tm, a member of team lab
//	team-owner       alice, an owner of team lab
//	manager          mgr, role manager, not in the team
//	admin            the bootstrap admin
//	disabled-user    dis, a team member whose account was disabled after it got a token
//	revoked-token    a token of tm's, revoked
//	expired-token    a token of tm's that expired (the server's clock moved past it)
//	read-only-token  a token of tm's with scopes [read]
//	share-link       a live share link to the image, made by alice
//	expired-link     a share link that expired
//	revoked-link     a share link that was revoked
//	orphaned-link    a share link made by dis, whose account was then disabled
//
// The actions, and the protocols that carry them (protocols_test.go):
//
//	list        silo API GET images, unfiltered and filtered by entity and collection
//	search      library search (client), silo API GET images?q=
//	get         library GetImage (client); raw GET of the collection, the container, its tags
//	            by container id, the image by version
//	pull        library ConcurrentDownloadImage (client); raw GET /v1/imagefile (the 303)
//	push-new    library UploadImage (client) of another image to a new container lab/tools/nN
//	push-tag    library UploadImage (client) of another image over lab/tools/app:latest
//	tag         library POST /v2/tags/<container id>: the push's last step alone, by ids
//	            (pointing the tag where it points, so an allowed one changes nothing)
//	delete      library DeleteImage (client)
//	freeze      silo API PUT containers/lab/tools/app/frozen
//	share       silo API POST shares
//	collection  silo API PATCH collections/lab/tools (privacy, set to what it is)
//	users       silo API GET users and POST users: managing accounts
//
// The sregistry API (sregistry_test.go) carries get, pull, push-new,
// push-tag and delete as sregistry-cli does, on a mirror of the image at
// default/tools/app (its collection "tools"), which has the same creator,
// team and privacy: GET /api/container (the actor's token as a plain
// credential), a pull signed with the user's sregistry secret and the
// download of its image URL, a signed DELETE, and the signed two-step push.
// Its answers are read in the matrix's words there.
//
// The answers:
//
//	ok    allowed: 2xx (303 for a pull redirect), and the listing or search shows the image
//	401   log in (or: the credentials are refused)
//	403   known caller, not allowed
//	hide  as if it did not exist: 404 with the body, byte for byte but
//	      for the name, of a name that does not exist; a listing or search
//	      answers 200 without the image
//
// The rules behind the rows:
//   - admins may do everything;
//   - a public collection is readable by anyone; a private one by its
//     creator, the owner of its entity, the members of the team owning it
//     or its entity, and admins; to everyone else it does not exist;
//   - the same people may write (push, tag, delete, freeze, share);
//   - only the collection's owners (its creator, its entity's owner, the
//     owners of its or its entity's team) and admins may change its privacy
//     or hand it over; plain team members may not;
//   - only admins manage accounts;
//   - writes need a login: an anonymous caller is told to log in (401),
//     whatever the name, which tells them nothing about what exists; a
//     logged-in caller who may not see a private collection is told it does
//     not exist. A push to a missing collection is a create, which in a
//     team's entity outsiders may not do (403): that is what a hidden one
//     answers too;
//   - refused credentials (a disabled account, a revoked or expired token,
//     anything that is not a token) are a 401 everywhere, never anonymous;
//   - a read-only token reads what its user may, and writes nothing (403);
//   - a share link opens its one image, to anyone, at /s/<secret>, for as
//     long as it lives and its creator may still share it; a dead link is
//     the same 404 as one that never existed; and a link is not a token:
//     sent as one to the APIs it is refused (401).
//
// Whoever's "get" on the private image is not "ok" may not see it: their
// every answer about it is also compared with the answer for a name that
// does not exist, and no answer to them may name it (see leaks_test.go).
var matrix = []string{
	"actor            visibility list search get  pull push-new push-tag tag  delete freeze share collection users",
	"anonymous        public     ok   ok     ok   ok   401      401      401  401    401    401   401        401",
	"anonymous        private    hide hide   hide hide 401      401      401  401    401    401   401        401",
	"user             public     ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         403",
	"user             private    ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         403",
	"other-user       public     ok   ok     ok   ok   403      403      403  403    403    403   403        403",
	"other-user       private    hide hide   hide hide 403      403      hide hide   hide   hide  hide       403",
	"team-member      public     ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    403        403",
	"team-member      private    ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    403        403",
	"team-owner       public     ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         403",
	"team-owner       private    ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         403",
	"manager          public     ok   ok     ok   ok   403      403      403  403    403    403   403        403",
	"manager          private    hide hide   hide hide 403      403      hide hide   hide   hide  hide       403",
	"admin            public     ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         ok",
	"admin            private    ok   ok     ok   ok   ok       ok       ok   ok     ok     ok    ok         ok",
	"disabled-user    public     401  401    401  401  401      401      401  401    401    401   401        401",
	"disabled-user    private    401  401    401  401  401      401      401  401    401    401   401        401",
	"revoked-token    public     401  401    401  401  401      401      401  401    401    401   401        401",
	"revoked-token    private    401  401    401  401  401      401      401  401    401    401   401        401",
	"expired-token    public     401  401    401  401  401      401      401  401    401    401   401        401",
	"expired-token    private    401  401    401  401  401      401      401  401    401    401   401        401",
	"read-only-token  public     ok   ok     ok   ok   403      403      403  403    403    403   403        403",
	"read-only-token  private    ok   ok     ok   ok   403      403      403  403    403    403   403        403",
	"share-link       public     401  401    ok   ok   401      401      401  401    401    401   401        401",
	"share-link       private    401  401    ok   ok   401      401      401  401    401    401   401        401",
	"expired-link     public     401  401    hide hide 401      401      401  401    401    401   401        401",
	"expired-link     private    401  401    hide hide 401      401      401  401    401    401   401        401",
	"revoked-link     public     401  401    hide hide 401      401      401  401    401    401   401        401",
	"revoked-link     private    401  401    hide hide 401      401      401  401    401    401   401        401",
	"orphaned-link    public     401  401    hide hide 401      401      401  401    401    401   401        401",
	"orphaned-link    private    401  401    hide hide 401      401      401  401    401    401   401        401",
}

// The rows and columns, in the order the test runs them. The actions are
// ordered so that those that change the image (and are undone after each
// cell) come after those that only look, and delete, which also ends the
// share links' image, after every cell that uses a link.
var (
	actors = []string{"anonymous", "user", "other-user", "team-member", "team-owner", "manager", "admin",
		"disabled-user", "revoked-token", "expired-token", "read-only-token",
		"share-link", "expired-link", "revoked-link", "orphaned-link"}
	actions      = []string{"list", "search", "get", "pull", "share", "collection", "tag", "freeze", "push-new", "push-tag", "delete", "users"}
	visibilities = []string{"public", "private"}
	outcomes     = []string{"ok", "401", "403", "hide"}
)

// cellKey names one row of the matrix.
type cellKey struct{ actor, visibility string }

// parseMatrix reads the table into row → action → outcome, failing on any
// row missing, repeated or malformed, so that the table stays complete.
func parseMatrix(t *testing.T) map[cellKey]map[string]string {
	t.Helper()
	header := strings.Fields(matrix[0])
	if len(header) != 2+len(actions) || header[0] != "actor" || header[1] != "visibility" {
		t.Fatalf("matrix header %q: want actor, visibility and one column per action", matrix[0])
	}
	cols := header[2:]
	for _, a := range actions {
		if !slices.Contains(cols, a) {
			t.Fatalf("matrix has no column for action %q", a)
		}
	}
	out := map[cellKey]map[string]string{}
	for _, line := range matrix[1:] {
		f := strings.Fields(line)
		if len(f) != len(header) {
			t.Fatalf("matrix row %q has %d fields, want %d", line, len(f), len(header))
		}
		k := cellKey{f[0], f[1]}
		if !slices.Contains(actors, k.actor) || !slices.Contains(visibilities, k.visibility) {
			t.Fatalf("matrix row %q: unknown actor or visibility", line)
		}
		if out[k] != nil {
			t.Fatalf("matrix has two rows for %s %s", k.actor, k.visibility)
		}
		row := map[string]string{}
		for i, o := range f[2:] {
			if !slices.Contains(outcomes, o) {
				t.Fatalf("matrix row %q: %q is not one of %v", line, o, outcomes)
			}
			row[cols[i]] = o
		}
		out[k] = row
	}
	for _, a := range actors {
		for _, v := range visibilities {
			if out[cellKey{a, v}] == nil {
				t.Fatalf("matrix has no row for %s %s", a, v)
			}
		}
	}
	return out
}

// TestAuthorizationMatrix runs every cell of the matrix through every
// protocol that carries its action: one server per visibility, the two
// in parallel, the cells of each in order with the image put back after
// any cell that changed it.
func TestAuthorizationMatrix(t *testing.T) {
	table := parseMatrix(t)
	for _, vis := range visibilities {
		t.Run(vis, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, vis == "private")
			got := map[cellKey]map[string]string{}
			for _, act := range actions {
				for _, who := range actors {
					if w.broken {
						t.Fatalf("stopped before %s/%s: an earlier cell's changes could not be undone", who, act)
					}
					k := cellKey{who, vis}
					if got[k] == nil {
						got[k] = map[string]string{}
					}
					want := table[k][act]
					// Who may not see the private image is held to hiding it.
					hidden := vis == "private" && table[cellKey{who, "private"}]["get"] != "ok"
					t.Run(who+"/"+act, func(t *testing.T) {
						got[k][act] = w.cell(t, who, act, want, hidden)
					})
				}
			}
			t.Log("observed (* marks a cell that differs from the matrix):\n" + grid(table, got, vis))
		})
	}
}

// grid prints what was observed in the matrix's layout.
func grid(want, got map[cellKey]map[string]string, vis string) string {
	cols := strings.Fields(matrix[0])[2:]
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %-10s", "actor", "visibility")
	for _, a := range cols {
		fmt.Fprintf(&b, " %-10s", a)
	}
	b.WriteString("\n")
	for _, who := range actors {
		k := cellKey{who, vis}
		fmt.Fprintf(&b, "%-16s %-10s", who, vis)
		for _, a := range cols {
			o := got[k][a]
			if o != want[k][a] {
				o = "*" + o
			}
			fmt.Fprintf(&b, " %-10s", o)
		}
		b.WriteString("\n")
	}
	return b.String()
}
