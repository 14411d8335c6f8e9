package runner

import (
	"context"

	"github.com/smcfleet/smcfleet/internal/smc"
)

// ManagerAPI is what steps need from a Manager's HTTPS API (Central
// Management). internal/smc's Client satisfies it.
type ManagerAPI interface {
	ManagerID(ctx context.Context) (string, error)
	Config(ctx context.Context, id string) (map[string]any, string, error)
	Update(ctx context.Context, id string, mutate func(doc map[string]any) (bool, error)) (bool, error)
	Stage(ctx context.Context, id, friendlyName string, pem []byte) (map[string]any, error)
	Do(ctx context.Context, method, path string, body []byte, contentType string) (*smc.Response, error)
}

// APIConnector hands out one API session per host for a run.
type APIConnector interface {
	API(ctx context.Context, t Target) (ManagerAPI, error)
}
