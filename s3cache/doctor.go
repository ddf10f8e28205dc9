package s3cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// What a probe of the bucket (ProbeList, ProbeGet, ProbePut, ProbeDelete)
// found wrong, for `refbot doctor` to say what to fix. A probe's error
// wraps one of these when S3 named the cause.
var (
	// ErrNoBucket: the bucket does not exist (at this endpoint and region).
	ErrNoBucket = errors.New("no such bucket")
	// ErrAccessDenied: the credentials are valid but may not do it.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnknownAccessKey: S3 does not know the access key id.
	ErrUnknownAccessKey = errors.New("the access key id is unknown to S3")
	// ErrWrongSecretKey: the secret key is not the access key id's (S3
	// could not verify the request's signature).
	ErrWrongSecretKey = errors.New("the secret key does not belong to the access key id")
)

// probeKeyPrefix starts the name of the object ProbePut writes, directly
// under the store's prefix. It is no build id (those start with a letter
// or digit), so nothing that lists builds takes it for one.
const probeKeyPrefix = ".refbot-doctor-"

// ProbeList lists one object under the store's prefix, as every reading
// of builds starts: the bucket exists and the credentials may list it. It
// returns that object's key, or "" when the prefix holds nothing yet.
func (s *Store) ProbeList(ctx context.Context) (string, error) {
	prefix := ""
	if s.prefix != "" {
		prefix = s.prefix + "/"
	}
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", s, probeError(err))
	}
	if len(out.Contents) == 0 {
		return "", nil
	}
	return aws.ToString(out.Contents[0].Key), nil
}

// ProbeGet reads the first byte of key, an object ProbeList found, or,
// when key is "", asks for an object that does not exist: S3 answers that
// with 404 to credentials that may read and list the bucket, which is
// fine, and with 403 to credentials that may not.
func (s *Store) ProbeGet(ctx context.Context, key string) error {
	if key == "" {
		key = s.key(probeKeyPrefix + hexRand())
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: aws.String("bytes=0-0")})
	if err == nil {
		out.Body.Close()
		return nil
	}
	err = probeError(err)
	var api smithy.APIError
	switch {
	case errors.Is(err, ErrNoBucket):
	case isNotFound(err), errors.As(err, &api) && api.ErrorCode() == "InvalidRange": // an empty object has no first byte
		return nil
	}
	return fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
}

// ProbePut writes a small object directly under the store's prefix, as
// refbot does when it takes a fork's artifact into the bucket or pins a
// build, and returns its key. Remove it with ProbeDelete.
func (s *Store) ProbePut(ctx context.Context) (string, error) {
	key := s.key(probeKeyPrefix + hexRand())
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, ContentType: aws.String("text/plain"),
		Body: strings.NewReader("written by refbot doctor to check that refbot may write here; safe to delete\n"),
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, probeError(err))
	}
	return key, nil
}

// ProbeDelete deletes key (the object ProbePut wrote) the way pruning
// deletes builds: with a DeleteObjects request, whose refusal of a single
// key comes in the answer rather than as the request's error.
func (s *Store) ProbeDelete(ctx context.Context, key string) error {
	out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: &s.bucket,
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: &key}}, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, key, probeError(err))
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		err := fmt.Errorf("%s: %s", aws.ToString(e.Code), aws.ToString(e.Message))
		if sentinel := codeError(aws.ToString(e.Code)); sentinel != nil {
			err = fmt.Errorf("%w (%s)", sentinel, aws.ToString(e.Message))
		}
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// probeError adds the sentinel that names the cause of a refused request,
// keeping the SDK's error (and its message) in the chain.
func probeError(err error) error {
	var sentinel error
	var api smithy.APIError
	var resp *smithyhttp.ResponseError
	switch {
	case errors.As(err, new(*types.NoSuchBucket)):
		sentinel = ErrNoBucket
	case errors.As(err, &api) && codeError(api.ErrorCode()) != nil:
		sentinel = codeError(api.ErrorCode())
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusForbidden:
		// An answer without a body (to HEAD) names no code.
		sentinel = ErrAccessDenied
	default:
		return err
	}
	return &causeError{sentinel: sentinel, err: err}
}

// codeError is the sentinel of an S3 error code, or nil.
func codeError(code string) error {
	switch code {
	case "NoSuchBucket":
		return ErrNoBucket
	case "AccessDenied", "AllAccessDisabled":
		return ErrAccessDenied
	case "InvalidAccessKeyId":
		return ErrUnknownAccessKey
	case "SignatureDoesNotMatch":
		return ErrWrongSecretKey
	}
	return nil
}

// causeError is an SDK error with the sentinel of its cause; its message
// is the SDK's.
type causeError struct {
	sentinel error
	err      error
}

func (e *causeError) Error() string   { return e.err.Error() }
func (e *causeError) Unwrap() []error { return []error{e.sentinel, e.err} }
