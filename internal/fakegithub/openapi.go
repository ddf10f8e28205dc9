package fakegithub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// operation is one REST operation the fake serves, as GitHub's OpenAPI
// description names it.
type operation struct {
	method, path, id string
}

// operations lists every REST operation the fake serves. Only these are kept
// from the OpenAPI document: a request for any other operation is a violation.
var operations = []operation{
	{http.MethodGet, "/repos/{owner}/{repo}/pulls/{pull_number}", "pulls/get"},
	{http.MethodGet, "/repos/{owner}/{repo}/pulls", "pulls/list"},
	{http.MethodGet, "/repos/{owner}/{repo}/collaborators/{username}/permission", "repos/get-collaborator-permission-level"},
	{http.MethodGet, "/orgs/{org}/teams/{team_slug}/memberships/{username}", "teams/get-membership-for-user-in-org"},
	{http.MethodPost, "/repos/{owner}/{repo}/statuses/{sha}", "repos/create-commit-status"},
	{http.MethodGet, "/repos/{owner}/{repo}/commits/{ref}/status", "repos/get-combined-status-for-ref"},
	{http.MethodPost, "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues/create-comment"},
	{http.MethodGet, "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues/list-comments"},
	{http.MethodPatch, "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues/update-comment"},
	{http.MethodGet, "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues/get-comment"},
	{http.MethodPost, "/app/installations/{installation_id}/access_tokens", "apps/create-installation-access-token"},
	{http.MethodGet, "/rate_limit", "rate-limit/get"},
	{http.MethodGet, "/user", "users/get-authenticated"},
	{http.MethodGet, "/app", "apps/get-authenticated"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs", "actions/list-workflow-runs-for-repo"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs", "actions/list-workflow-runs"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}", "actions/get-workflow-run"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "actions/list-jobs-for-workflow-run"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", "actions/list-jobs-for-workflow-run-attempt"},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun", "actions/re-run-workflow"},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs", "actions/re-run-workflow-failed-jobs"},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel", "actions/cancel-workflow-run"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", "actions/list-workflow-run-artifacts"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", "actions/download-artifact"},
	{http.MethodGet, "/repos/{owner}/{repo}/actions/workflows", "actions/list-repo-workflows"},
	{http.MethodPost, "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", "actions/create-workflow-dispatch"},
	{http.MethodPost, "/repos/{owner}/{repo}/check-runs", "checks/create"},
	{http.MethodPatch, "/repos/{owner}/{repo}/check-runs/{check_run_id}", "checks/update"},
	{http.MethodGet, "/repos/{owner}/{repo}/commits/{ref}/check-runs", "checks/list-for-ref"},
	{http.MethodGet, "/repos/{owner}/{repo}/installation", "apps/get-repo-installation"},
	{http.MethodGet, "/repos/{owner}/{repo}", "repos/get"},
}

// openAPIServer is the server the OpenAPI document names; requests are
// matched against it after the fake's prefix is cut off.
const openAPIServer = "https://api.github.com"

// spec is the part of GitHub's OpenAPI description the fake needs: a router
// over the served operations, and each operation's documented example
// answer, which the fake uses as the template of its own answers so that
// fields it does not model still have GitHub's shape.
type spec struct {
	router    routers.Router
	templates map[string]json.RawMessage // by operation id
}

var (
	specOnce sync.Once
	specVal  *spec
	specErr  error
)

// loadSpec reads GitHub's OpenAPI description once per process. The
// document is over 10 MB; only the served operations and the components
// they reference are kept, which makes the loaded document small.
func loadSpec() (*spec, error) {
	specOnce.Do(func() {
		dir, err := NodeModules()
		if err != nil {
			specErr = err
			return
		}
		specVal, specErr = parseSpec(filepath.Join(dir, openAPIFile))
	})
	return specVal, specErr
}

func parseSpec(path string) (*spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read openapi description: %w", err)
	}
	var full map[string]any
	if err := json.Unmarshal(raw, &full); err != nil {
		return nil, fmt.Errorf("decode openapi description %s: %w", path, err)
	}
	pruned, templates, err := prune(full)
	if err != nil {
		return nil, fmt.Errorf("prune openapi description %s: %w", path, err)
	}
	data, err := json.Marshal(pruned)
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load openapi description %s: %w", path, err)
	}
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation())
	if err != nil {
		return nil, fmt.Errorf("route openapi description %s: %w", path, err)
	}
	return &spec{router: router, templates: templates}, nil
}

// prune returns a document with only the served operations and the
// components they reference, and the example answer of each operation.
func prune(full map[string]any) (map[string]any, map[string]json.RawMessage, error) {
	paths, _ := full["paths"].(map[string]any)
	components, _ := full["components"].(map[string]any)
	if paths == nil || components == nil {
		return nil, nil, errors.New("no paths or components")
	}
	resolve := func(ref string) (map[string]any, error) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 {
			return nil, fmt.Errorf("unsupported $ref %q", ref)
		}
		group, _ := components[parts[0]].(map[string]any)
		v, _ := group[parts[1]].(map[string]any)
		if v == nil {
			return nil, fmt.Errorf("unresolved $ref %q", ref)
		}
		return v, nil
	}

	keptPaths := map[string]any{}
	templates := map[string]json.RawMessage{}
	for _, op := range operations {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			return nil, nil, fmt.Errorf("no path %s", op.path)
		}
		o, _ := item[strings.ToLower(op.method)].(map[string]any)
		if o == nil || o["operationId"] != op.id {
			return nil, nil, fmt.Errorf("no operation %s %s (%s)", op.method, op.path, op.id)
		}
		kept, _ := keptPaths[op.path].(map[string]any)
		if kept == nil {
			kept = map[string]any{}
			if p, ok := item["parameters"]; ok {
				kept["parameters"] = p
			}
			keptPaths[op.path] = kept
		}
		kept[strings.ToLower(op.method)] = o

		// The documented example of the success answer, then no examples:
		// they are large and the fake validates against schemas, not them.
		responses, _ := o["responses"].(map[string]any)
		for code, r := range responses {
			resp, _ := r.(map[string]any)
			if ref, ok := resp["$ref"].(string); ok {
				var err error
				if resp, err = resolve(ref); err != nil {
					return nil, nil, err
				}
			}
			content, _ := resp["content"].(map[string]any)
			for _, m := range content {
				media, _ := m.(map[string]any)
				if strings.HasPrefix(code, "2") {
					if ex, ok := exampleOf(media, resolve); ok {
						b, err := json.Marshal(ex)
						if err != nil {
							return nil, nil, err
						}
						templates[op.id] = b
					}
				}
				delete(media, "examples")
			}
		}
		if body, ok := o["requestBody"].(map[string]any); ok {
			content, _ := body["content"].(map[string]any)
			for _, m := range content {
				if media, ok := m.(map[string]any); ok {
					delete(media, "examples")
				}
			}
		}
	}

	// Keep the components reachable from the kept operations.
	keptComponents := map[string]any{}
	seen := map[string]bool{}
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && !seen[ref] {
				seen[ref] = true
				target, err := resolve(ref)
				if err != nil {
					return err
				}
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				group, _ := keptComponents[parts[0]].(map[string]any)
				if group == nil {
					group = map[string]any{}
					keptComponents[parts[0]] = group
				}
				if content, ok := target["content"].(map[string]any); ok {
					for _, m := range content {
						if media, ok := m.(map[string]any); ok {
							delete(media, "examples")
						}
					}
				}
				group[parts[1]] = target
				if err := walk(target); err != nil {
					return err
				}
			}
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(keptPaths); err != nil {
		return nil, nil, err
	}
	return map[string]any{
		"openapi":    full["openapi"],
		"info":       full["info"],
		"servers":    []any{map[string]any{"url": openAPIServer}},
		"paths":      keptPaths,
		"components": keptComponents,
	}, templates, nil
}

func exampleOf(media map[string]any, resolve func(string) (map[string]any, error)) (any, bool) {
	examples, _ := media["examples"].(map[string]any)
	names := make([]string, 0, len(examples))
	for name := range examples {
		names = append(names, name)
	}
	sort.Strings(names)
	if _, ok := examples["default"]; ok {
		names = append([]string{"default"}, names...)
	}
	for _, name := range names {
		ex, _ := examples[name].(map[string]any)
		if ref, ok := ex["$ref"].(string); ok {
			var err error
			if ex, err = resolve(ref); err != nil {
				continue
			}
		}
		if v, ok := ex["value"]; ok {
			return v, true
		}
	}
	return nil, false
}

// openAPIValidator checks requests and answers against the OpenAPI description.
type openAPIValidator struct {
	spec *spec
}

// route finds the operation of a request whose path has had the fake's
// prefix cut off.
func (v *openAPIValidator) route(r *http.Request, path string, body []byte) (*openapi3filter.RequestValidationInput, error) {
	u, err := url.Parse(openAPIServer)
	if err != nil {
		return nil, err
	}
	u.Path = path
	u.RawQuery = r.URL.RawQuery
	vr := r.Clone(r.Context())
	vr.URL = u
	vr.Host = u.Host
	vr.RequestURI = ""
	vr.Body = http.NoBody
	if body != nil {
		vr.Body = readCloser(body)
	}
	route, params, err := v.spec.router.FindRoute(vr)
	if err != nil {
		return nil, err
	}
	opts := &openapi3filter.Options{
		MultiError:         true,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}
	opts.WithCustomSchemaErrorFunc(shortSchemaError)
	return &openapi3filter.RequestValidationInput{
		Request:    vr,
		PathParams: params,
		Route:      route,
		Options:    opts,
	}, nil
}

// shortSchemaError says where a value breaks the schema and how, with the
// value cut short: kin-openapi's default message prints the whole schema,
// which for a pull request runs to thousands of lines.
func shortSchemaError(e *openapi3.SchemaError) string {
	where := "/" + strings.Join(e.JSONPointer(), "/")
	if e.Origin != nil {
		return fmt.Sprintf("Error at %q: %v", where, e.Origin)
	}
	reason := e.Reason
	if reason == "" {
		reason = fmt.Sprintf("does not match schema field %q", e.SchemaField)
	}
	value, _ := json.Marshal(e.Value)
	if len(value) > 200 {
		value = append(value[:200], "..."...)
	}
	return fmt.Sprintf("Error at %q: %s (value: %s)", where, reason, value)
}

// request validates parameters and body of a routed request.
func (v *openAPIValidator) request(ctx context.Context, in *openapi3filter.RequestValidationInput, body []byte) error {
	if body != nil {
		in.Request.Body = readCloser(body)
	}
	return openapi3filter.ValidateRequest(ctx, in)
}

// response validates an answer; strict answers must also have a status the
// description documents for the operation.
func (v *openAPIValidator) response(ctx context.Context, in *openapi3filter.RequestValidationInput, status int, header http.Header, body []byte, strict bool) error {
	opts := &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: strict,
	}
	opts.WithCustomSchemaErrorFunc(shortSchemaError)
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   readCloser(body),
		Options:                opts,
	})
}

type bytesReadCloser struct{ *bytes.Reader }

func (bytesReadCloser) Close() error { return nil }

func readCloser(b []byte) bytesReadCloser { return bytesReadCloser{bytes.NewReader(b)} }
