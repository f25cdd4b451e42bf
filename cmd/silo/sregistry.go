package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/siloreg/silo/internal/backend"
	importer "github.com/siloreg/silo/internal/importer/sregistry"
	"github.com/siloreg/silo/internal/ref"
	"github.com/siloreg/silo/internal/registry"
	"github.com/siloreg/silo/internal/server"
)

// openForSregistry opens the registry in data with the key that seals
// sregistry secrets, which the plain offline registry does without.
func openForSregistry(ctx context.Context, data backend.Config) (*offline, error) {
	m, b, err := backend.Open(ctx, data)
	if err != nil {
		return nil, err
	}
	key, err := server.SregistryKey(ctx, m)
	if err != nil {
		m.Close()
		return nil, err
	}
	d := ref.Defaults{Entity: envOr("SILO_DEFAULT_ENTITY", "default"), Collection: envOr("SILO_DEFAULT_COLLECTION", "default")}
	reg := registry.New(registry.Config{Meta: m, Blobs: b, Defaults: d, SecretKey: key})
	return &offline{reg: reg, op: registry.Operator(localUser()), m: m}, nil
}

func newSregistrySecretCmd() *cobra.Command {
	var data backend.Config
	var base string
	cmd := &cobra.Command{
		Use:   "sregistry-secret USER",
		Short: "Give a user a new secret for sregistry-cli",
		Long: `Give a user a new secret for sregistry-cli, replacing any previous one, and
print the ~/.sregistry file that uses it. sregistry-cli signs pushes, pulls
and deletes with this secret (SREGISTRY-HMAC-SHA256); it also works as an API
token ("Authorization: Bearer <secret>"). Users imported with 'silo import'
already have their sregistry token as their secret.

Works offline, on the data directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := openForSregistry(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer o.Close()
			secret, err := registry.NewSregistrySecret()
			if err != nil {
				return err
			}
			if err := o.reg.SetSregistrySecret(cmd.Context(), o.op, args[0], secret); err != nil {
				return err
			}
			cfg := map[string]any{"registry": map[string]string{"base": base, "username": args[0], "token": secret}}
			return printJSON(cmd.OutOrStdout(), cfg)
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().StringVar(&base, "base", envOr("SILO_URL", "http://127.0.0.1:8080"), "the registry's URL, for the printed ~/.sregistry")
	return cmd
}

func newImportCmd() *cobra.Command {
	var data backend.Config
	var opts importer.Options
	var from string
	var mc importer.MinIOConfig
	cmd := &cobra.Command{
		Use:   "import --from DSN --images DIR [--minio-endpoint URL --minio-bucket NAME]",
		Short: "Move a Singularity Registry Server (sregistry) into Silo",
		Long: `Move a running Singularity Registry Server into Silo: its users (with their
API tokens, so sregistry-cli keeps working), teams, collections with their
privacy and owners, containers, tags, versions and frozen flags.

--from is the sregistry PostgreSQL database (a URL such as
postgres://postgres@db:5432/postgres, read only), --images its image
directory (MEDIA_ROOT, /var/www/images in sregistry's containers). Every
image is hashed and checked against the version sregistry recorded before
it is stored.

Images pushed to sregistry with library:// (apptainer push) are not in the
image directory but in its MinIO bucket, as objects named
"<collection>/<name>:sha256.<hex>". Give --minio-endpoint (sregistry's
MINIO_SERVER as a URL, e.g. http://minio:9000) and --minio-bucket (its
MINIO_BUCKET), with MINIO_ACCESS_KEY and MINIO_SECRET_KEY in the
environment as sregistry had them, to import those too; without them they
are reported as skipped.

sregistry's collection C becomes Silo's default/C, so
'C/name:tag' means the same image to sregistry-cli, apptainer and silo.

It prints a report of everything it moved, found already there, or skipped
(with why). Running it again changes nothing that is already there, so an
interrupted import is finished by running it again. --dry-run reads
everything and writes nothing.

Works offline, on the data directory; stop the sregistry site first (or at
least its pushes) so nothing changes underneath.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || opts.Images == "" {
				return fmt.Errorf("give --from (the sregistry database) and --images (its image directory)")
			}
			if fi, err := os.Stat(opts.Images); err != nil || !fi.IsDir() {
				return fmt.Errorf("--images %s: not a directory", opts.Images)
			}
			if mc.Endpoint != "" {
				mc.AccessKey, mc.SecretKey = os.Getenv("MINIO_ACCESS_KEY"), os.Getenv("MINIO_SECRET_KEY")
				objs, err := importer.NewMinIO(cmd.Context(), mc)
				if err != nil {
					return err
				}
				opts.Objects = objs
			}
			site, err := importer.Read(cmd.Context(), from)
			if err != nil {
				return err
			}
			o, err := openForSregistry(cmd.Context(), data)
			if err != nil {
				return err
			}
			defer o.Close()
			if !opts.DryRun {
				opts.Progress = func(name string) { fmt.Fprintln(cmd.ErrOrStderr(), "importing", name) }
			}
			rep, err := importer.New(o.reg, o.op, site, opts).Run(cmd.Context())
			rep.Print(cmd.OutOrStdout())
			if err != nil {
				return fmt.Errorf("import stopped (run it again to continue): %w", err)
			}
			return nil
		},
	}
	dataFlag(cmd, &data)
	cmd.Flags().StringVar(&from, "from", "", "the sregistry PostgreSQL database URL (read only)")
	cmd.Flags().StringVar(&opts.Images, "images", "", "sregistry's image directory (its MEDIA_ROOT)")
	cmd.Flags().StringVar(&opts.MediaRoot, "media-root", "/var/www/images", "the path sregistry recorded image files under")
	cmd.Flags().StringVar(&mc.Endpoint, "minio-endpoint", "", "sregistry's MinIO server URL, for library:// pushes (credentials: MINIO_ACCESS_KEY, MINIO_SECRET_KEY)")
	cmd.Flags().StringVar(&mc.Bucket, "minio-bucket", "sregistry", "sregistry's MinIO bucket (its MINIO_BUCKET)")
	cmd.Flags().StringVar(&mc.Region, "minio-region", "us-east-1", "sregistry's MINIO_REGION")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show the plan; write nothing")
	return cmd
}
