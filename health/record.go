package health

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ehecoatl/ehecoatl/atomicfile"
)

// Path is where the router writes the record (its RuntimeDirectory=).
const Path = "/run/ehecoatl-router/health.json"

// Record is the router's view of every instance of the apps it routes to,
// written when an instance goes down or up and when the table changes.
type Record struct {
	Written   time.Time  `json:"written"`
	Instances []Instance `json:"instances"`
}

// Instance is one app instance (a worker, or the app's single service).
type Instance struct {
	Tenant string `json:"tenant"`
	App    string `json:"app"`
	// Instance is the worker number, 0 for an app without workers.
	Instance int `json:"instance"`
	// Health is "up" or "down".
	Health string `json:"health"`
	// Since is the last transition; absent when it never changed.
	Since *time.Time `json:"since,omitempty"`
	// Reason says why it went down (or came up).
	Reason string `json:"reason,omitempty"`
}

// Name is how the instance is written in messages: tenant/app or
// tenant/app@N.
func (i Instance) Name() string {
	if i.Instance == 0 {
		return i.Tenant + "/" + i.App
	}
	return fmt.Sprintf("%s/%s@%d", i.Tenant, i.App, i.Instance)
}

// Write replaces the record at path atomically, readable by everyone (it
// holds names and states only).
func Write(path string, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644, -1)
}

// Read reads the record at path; ok is false when there is none (the
// router does not run).
func Read(path string) (r Record, ok bool, err error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("%s: %w", path, err)
	}
	return r, true, nil
}
