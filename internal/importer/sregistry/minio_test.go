package sregistry_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	library "github.com/apptainer/container-library-client/client"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/siloreg/silo/internal/blob/s3/s3test"
	importer "github.com/siloreg/silo/internal/importer/sregistry"
	"github.com/siloreg/silo/internal/server/servertest"
	"github.com/siloreg/silo/internal/sif/siftest"
)

// libraryPushes adds to the site what sregistry's library:// endpoints
// leave behind: main_container rows with no api_imagefile and the
// client's "sha256.<hex>" as version, whose bytes are the object
// Container.get_storage() names in the MinIO bucket. It returns the
// objects to put there.
func libraryPushes(t *testing.T, s *site) map[string][]byte {
	ctx := context.Background()
	db, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	sif := func(seed int64) (string, []byte) {
		p := filepath.Join(t.TempDir(), "x.sif")
		d, _, err := siftest.Write(p, siftest.Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return d, b
	}
	row := func(col int, name, tag, version string) {
		t.Helper()
		if _, err := db.Exec(ctx, `INSERT INTO main_container (add_date, collection_id, image_id, metadata, metrics, name, tag, secret, version, frozen)
			VALUES ($1, $2, NULL, '{"arch": "amd64"}', '{}', $3, $4, 'x', $5, false)`, time.Now(), col, name, tag, version); err != nil {
			t.Fatal(err)
		}
	}
	objects := map[string][]byte{}
	dl, bl := sif(21)
	row(1, "lib", "2.0", "sha256."+dl)
	row(1, "lib", "latest", "sha256."+dl) // the same push tagged twice
	objects["tools/lib:sha256."+dl] = bl
	s.digests["tools/lib:2.0"], s.digests["tools/lib:latest"] = dl, dl
	dh, bh := sif(22)
	row(2, "hidden", "1", "sha256."+dh)
	objects["private-stuff/hidden:sha256."+dh] = bh
	s.digests["private-stuff/hidden:1"] = dh
	dg, _ := sif(23)
	row(1, "gone", "1", "sha256."+dg) // its object was removed
	dt, _ := sif(24)
	_, other := sif(25)
	row(1, "tampered", "1", "sha256."+dt)
	objects["tools/tampered:sha256."+dt] = other
	return objects
}

func TestImportMinIO(t *testing.T) {
	endpoint, bucket, access, secret := s3test.Start(t)
	s := buildSite(t)
	objects := libraryPushes(t, s)
	ctx := context.Background()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}, nil
		})})
	for key, b := range objects {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatalf("putting %s: %v", key, err)
		}
	}

	// Wrong credentials or bucket stop before anything is read.
	if _, err := importer.NewMinIO(ctx, importer.MinIOConfig{Endpoint: endpoint, Bucket: bucket, AccessKey: access, SecretKey: "wrong"}); err == nil {
		t.Error("wrong MinIO credentials are accepted")
	}
	if _, err := importer.NewMinIO(ctx, importer.MinIOConfig{Endpoint: endpoint, Bucket: "nope", AccessKey: access, SecretKey: secret}); err == nil || !strings.Contains(err.Error(), "no such bucket") {
		t.Errorf("a missing bucket: %v", err)
	}
	if _, err := importer.NewMinIO(ctx, importer.MinIOConfig{Endpoint: "minio:9000", Bucket: bucket, AccessKey: access, SecretKey: secret}); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Errorf("an endpoint without scheme: %v", err)
	}

	// Without the bucket, the report says where those images are.
	rep, err := runImport(t, ctx, s, t.TempDir(), importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if it := find(rep, "image", "tools/lib:2.0"); it == nil || it.Result != importer.Skipped || !strings.Contains(it.Detail, "--minio-endpoint") || !strings.Contains(it.Detail, `"tools/lib:sha256.`) {
		t.Errorf("tools/lib:2.0 without MinIO: %+v", it)
	}

	objs, err := importer.NewMinIO(ctx, importer.MinIOConfig{Endpoint: endpoint, Bucket: bucket, AccessKey: access, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	rep, err = runImport(t, ctx, s, data, importer.Options{Objects: objs, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tools/lib:2.0", "tools/lib:latest", "private-stuff/hidden:1"} {
		if it := find(rep, "image", name); it == nil || it.Result != importer.Planned {
			t.Errorf("dry run %s: %+v", name, it)
		}
	}
	if it := find(rep, "image", "tools/gone:1"); it == nil || it.Result != importer.Skipped || !strings.Contains(it.Detail, "no such object") {
		t.Errorf("dry run tools/gone:1: %+v", it)
	}

	rep, err = runImport(t, ctx, s, data, importer.Options{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ name, result, why string }{
		{"tools/lib:2.0", importer.Moved, "sha256." + s.digests["tools/lib:2.0"]},
		{"tools/lib:latest", importer.Moved, "sha256." + s.digests["tools/lib:2.0"]},
		{"private-stuff/hidden:1", importer.Moved, "sha256." + s.digests["private-stuff/hidden:1"]},
		{"tools/gone:1", importer.Skipped, "no such object"},
		{"tools/tampered:1", importer.Skipped, "damaged or replaced"},
		{"tools/bwa:0.7.17", importer.Moved, ""}, // files still come from the images directory
	} {
		if it := find(rep, "image", want.name); it == nil || it.Result != want.result || !strings.Contains(it.Detail, want.why) {
			t.Errorf("%s: %+v, want %s (%s)", want.name, it, want.result, want.why)
		}
	}
	first := snapshot(t, data)
	rep, err = runImport(t, ctx, s, data, importer.Options{Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Count("", importer.Moved); n != 0 || snapshot(t, data) != first {
		t.Errorf("the second run moved %d items or changed the registry", n)
	}
	if it := find(rep, "image", "tools/lib:2.0"); it == nil || it.Result != importer.Present {
		t.Errorf("second run tools/lib:2.0: %+v", it)
	}

	// Served with the recorded digests and the collection's privacy.
	in := servertest.StartExisting(t, serverFor(t, data))
	for _, tc := range []struct {
		tok, path string
		ok        bool
	}{
		{"", "tools/lib:2.0", true},
		{"", "tools/lib:latest", true},
		{"", "private-stuff/hidden:1", false},
		{s.tokens["alice"], "private-stuff/hidden:1", true},
		{s.tokens["Mixed.Case"], "private-stuff/hidden:1", false},
		{"", "tools/tampered:1", false},
	} {
		lc, err := library.NewClient(&library.Config{BaseURL: in.URL, AuthToken: tc.tok})
		if err != nil {
			t.Fatal(err)
		}
		img, err := lc.GetImage(ctx, "amd64", "default/"+tc.path)
		if (err == nil) != tc.ok || (tc.ok && img.Hash != "sha256."+s.digests[tc.path]) {
			t.Errorf("library API %s with token %q: %v %v, want ok=%v sha256.%s", tc.path, tc.tok, img, err, tc.ok, s.digests[tc.path])
		}
	}
}
