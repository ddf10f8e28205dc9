package s3cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/refbot/refbot/internal/stall"
)

// Options configure a Store. Endpoint, PathStyle and static credentials exist
// so that MinIO, other S3-compatible stores and tests can be used.
type Options struct {
	Bucket    string
	Prefix    string // folder inside the bucket, without leading or trailing slash
	Region    string
	Endpoint  string // e.g. http://127.0.0.1:9000; empty means AWS
	PathStyle bool

	// AccessKeyID and SecretAccessKey, when set, are used instead of the
	// SDK's default credential chain.
	AccessKeyID     string
	SecretAccessKey string

	// HTTPClient, if set, is used as it is. nil means the SDK's default
	// client with StallTimeout: the SDK sets no timeout of its own on S3
	// requests, so a store that accepts a connection and goes silent
	// would hold a transfer for good.
	HTTPClient *http.Client
	// StallTimeout ends a connection on which no byte has moved either
	// way for that long (internal/stall), however long a large transfer
	// that moves takes; default DefaultStallTimeout. The failed attempt
	// is retried as a timeout, up to MaxAttempts.
	StallTimeout time.Duration

	Concurrency int       // parallel transfers; 0 means 16
	Limits      Limits    // zero fields take DefaultLimits
	Zip         ZipLimits // for IngestArtifact; zero fields take their defaults
	MaxAttempts int       // per request, for throttling and 5xx; 0 means 5

	// Metrics, if set, time the store's requests.
	Metrics *Metrics

	// Kind is what the store's builds hold: KindOutputs ("", test outputs)
	// or KindWebsite (a documentation site, for WEBSITE previews). Upload
	// records it in the manifest, and a build of the other kind is refused
	// wherever it is read, so a site is never taken for test outputs.
	Kind string
}

// DefaultStallTimeout is Options.StallTimeout's default.
const DefaultStallTimeout = time.Minute

// Store reads and writes builds in one bucket and prefix.
type Store struct {
	client      *s3.Client
	creds       aws.CredentialsProvider // the client's, for CheckCredentials
	bucket      string
	prefix      string
	concurrency int
	limits      Limits
	zip         ZipLimits
	kind        string
}

// New returns a Store. It does not contact S3.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3cache: bucket is required")
	}
	if err := validKind(o.Kind); err != nil {
		return nil, fmt.Errorf("s3cache: %w", err)
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" && ValidPath(prefix) != nil {
		return nil, fmt.Errorf("s3cache: prefix %q: %w", o.Prefix, ValidPath(prefix))
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	lim := o.Limits
	if lim.MaxFileBytes == 0 {
		lim.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if lim.MaxBuildBytes == 0 {
		lim.MaxBuildBytes = DefaultLimits.MaxBuildBytes
	}
	if lim.MaxFiles == 0 {
		lim.MaxFiles = DefaultLimits.MaxFiles
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(o.Region),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = o.MaxAttempts })
		}),
	}
	if o.AccessKeyID != "" {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	if o.HTTPClient != nil {
		loadOpts = append(loadOpts, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3cache: load AWS config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// refbot checks sha256 of every file itself; the SDK's CRC on
		// downloads would read each byte a second time.
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if o.Metrics != nil {
			so.APIOptions = append(so.APIOptions, o.Metrics.addTo)
		}
		// The SDK's own client, once the configuration (AWS_CA_BUNDLE)
		// and the S3 client have set it up, gets the stall limit; frozen,
		// as nothing is to rebuild its dialer after.
		if b, ok := so.HTTPClient.(*awshttp.BuildableClient); ok && o.HTTPClient == nil {
			so.HTTPClient = b.WithTransportOptions(func(tr *http.Transport) { stall.Transport(tr, o.StallTimeout) }).Freeze()
		}
	})
	return &Store{client: client, creds: cfg.Credentials, bucket: o.Bucket, prefix: prefix, concurrency: o.Concurrency, limits: lim, zip: o.Zip, kind: o.Kind}, nil
}

// String names the store without credentials, for logs and errors.
func (s *Store) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

// ErrNoCredentials means the store has no credentials at all: Options gave
// none and the AWS SDK's default chain found none (no AWS_ACCESS_KEY_ID, no
// profile in the shared files, no container or EC2 instance role).
var ErrNoCredentials = errors.New("no S3 credentials")

// CheckCredentials gets the credentials the store's requests will be signed
// with, as the first request would (from the SDK's cache afterwards). When
// there are none at all the error wraps ErrNoCredentials; a source that is
// configured but fails (an expired SSO session, say) is reported as itself.
// It does not contact S3, but may ask the credentials' own source (STS,
// SSO, the instance metadata service).
func (s *Store) CheckCredentials(ctx context.Context) error {
	if s.creds == nil {
		return ErrNoCredentials
	}
	_, err := s.creds.Retrieve(ctx)
	if err == nil {
		return nil
	}
	// The default chain ends with the EC2 instance role: when that is the
	// provider it settled on, nothing before it (environment, shared files,
	// container) named any credentials, and failing to get a role means
	// there are none.
	if aws.IsCredentialsProvider(s.creds, (*ec2rolecreds.Provider)(nil)) {
		return fmt.Errorf("%w: none given, none in the environment or the shared AWS files, and no instance role (%v)", ErrNoCredentials, err)
	}
	return fmt.Errorf("get S3 credentials: %w", err)
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("head bucket %s: %w", s.bucket, err)
	}
	_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// key joins the prefix, the build and the rest into an object key.
func (s *Store) key(build string, parts ...string) string {
	return path.Join(append([]string{s.prefix, build}, parts...)...)
}

func (s *Store) buildPrefix(build string) string { return s.key(build) + "/" }

func (s *Store) dataKey(build, variant, p string) string {
	if variant == "" {
		return s.key(build, dataDir, p)
	}
	return s.key(build, dataDir, variant, p)
}

func (s *Store) getSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	return s.getSmallIn(ctx, s.bucket, key, limit)
}

// getSmallIn reads a small object of any bucket the store's client reaches,
// at most limit bytes.
func (s *Store) getSmallIn(ctx context.Context, bucket, key string, limit int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, ErrNotFound)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("s3://%s/%s: %w: more than %d bytes", bucket, key, ErrTooLarge, limit)
	}
	return b, nil
}

func (s *Store) putSmall(ctx context.Context, key, contentType string, body []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      &s.bucket,
		Key:         &key,
		Body:        strings.NewReader(string(body)),
		ContentType: &contentType,
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// list calls f for each object under prefix (all of them when delim is "",
// else only the top level, with sub-folders passed as CommonPrefixes).
func (s *Store) list(ctx context.Context, prefix, delim string, f func(objectInfo), dirs func(string)) error {
	return s.listIn(ctx, s.bucket, prefix, delim, f, dirs)
}

// listIn is list in any bucket the store's client reaches.
func (s *Store) listIn(ctx context.Context, bucket, prefix, delim string, f func(objectInfo), dirs func(string)) error {
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	if delim != "" {
		in.Delimiter = &delim
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if f != nil {
				f(o)
			}
		}
		for _, cp := range page.CommonPrefixes {
			if dirs != nil {
				dirs(aws.ToString(cp.Prefix))
			}
		}
	}
	return nil
}

// deleteKeys removes keys in batches of 1,000 (the API's limit).
func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	return s.deleteKeysIn(ctx, s.bucket, keys)
}

// deleteKeysIn is deleteKeys in any bucket the store's client reaches.
func (s *Store) deleteKeysIn(ctx context.Context, bucket string, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &bucket,
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects in s3://%s: %w", n, bucket, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete s3://%s/%s: %s: %s", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		keys = keys[n:]
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nb) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	return false
}

type objectInfo = types.Object
