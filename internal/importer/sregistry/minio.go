package sregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Objects is where sregistry kept the images pushed with library:// (its
// MinIO bucket). Keys are as MinIOKey makes them.
type Objects interface {
	// Stat returns an object's size.
	Stat(ctx context.Context, key string) (int64, error)
	// Open reads an object.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Where names the bucket in reports.
	Where() string
}

// MinIOKey is the object an sregistry container's library:// push was
// stored as: sregistry's Container.get_storage(), "<collection>/<name>:<version>"
// with the version "sha256.<hex>" the client declared, or "<name>:<version>"
// for the names with a slash that its GitHub builds made.
func MinIOKey(collection, name, version string) string {
	if strings.Contains(name, "/") {
		return name + ":" + version
	}
	return collection + "/" + name + ":" + version
}

// MinIOConfig says how to reach sregistry's bucket.
type MinIOConfig struct {
	// Endpoint is the server's URL, such as http://minio:9000 (sregistry's
	// MINIO_SERVER, with http:// unless it had MINIO_SSL).
	Endpoint string
	// Bucket is sregistry's MINIO_BUCKET; "sregistry" by default there.
	Bucket string
	// Region is sregistry's MINIO_REGION; default us-east-1.
	Region string
	// AccessKey and SecretKey are sregistry's MINIO_ACCESS_KEY and
	// MINIO_SECRET_KEY.
	AccessKey, SecretKey string
	// HTTPClient, if set, carries every request.
	HTTPClient *http.Client
}

// MinIO reads sregistry's bucket through the S3 API. It only reads.
type MinIO struct {
	c      *s3.Client
	bucket string
	where  string
}

// NewMinIO connects to the bucket cfg names and checks it can be read, so
// that wrong credentials stop the import at once rather than fail every image.
func NewMinIO(ctx context.Context, cfg MinIOConfig) (*MinIO, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("MinIO endpoint %q: give a URL such as http://minio:9000", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("no MinIO bucket given (sregistry's MINIO_BUCKET, \"sregistry\" unless changed)")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("no MinIO credentials: set MINIO_ACCESS_KEY and MINIO_SECRET_KEY as sregistry had them")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	creds := aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, Source: "silo import"}
	opts := s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true, // MinIO's buckets are paths, not host names
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		// Checksums only where S3 requires them, as MinIO versions differ.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	m := &MinIO{c: s3.New(opts), bucket: cfg.Bucket, where: fmt.Sprintf("bucket %s at %s", cfg.Bucket, cfg.Endpoint)}
	if _, err := m.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &m.bucket}); err != nil {
		var nf *types.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("reading MinIO %s: no such bucket", m.where)
		}
		return nil, fmt.Errorf("reading MinIO %s: %v", m.where, describe(err))
	}
	return m, nil
}

// Where names the bucket.
func (m *MinIO) Where() string { return m.where }

// Stat returns the object's size.
func (m *MinIO) Stat(ctx context.Context, key string) (int64, error) {
	out, err := m.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &m.bucket, Key: &key})
	if err != nil {
		return 0, describe(err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open reads the object.
func (m *MinIO) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := m.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &m.bucket, Key: &key})
	if err != nil {
		return nil, describe(err)
	}
	return out.Body, nil
}

// describe shortens the SDK's errors to what a report line needs.
func describe(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return errors.New("no such object")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound" {
			return errors.New("no such object")
		}
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}
