package status

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ehecoatl/ehecoatl/naming"
)

// Router is the router's part of `ehecoatl status`: is anything answering
// HTTP for the tenants (docs/OPERATIONS.md "Status and exit codes").
type Router struct {
	// SocketState is ehecoatl-router.socket's ActiveState ("" not loaded);
	// Enabled: it is enabled, so it is meant to listen.
	SocketState string `json:"socket_state"`
	Enabled     bool   `json:"socket_enabled"`
	Listening   bool   `json:"listening"`
	// ServiceState is ehecoatl-router.service's ActiveState/SubState;
	// ServiceResult its result when not "success".
	ServiceState  string `json:"service_state"`
	ServiceResult string `json:"service_result,omitempty"`
	// Loads counts the router's table loads since it started, TableError
	// is the last one's error (the previous table stays in use); both from
	// naming.RouterReloads, unknown (Loads 0) when it cannot be read.
	Loads      int    `json:"table_loads"`
	TableError string `json:"table_error,omitempty"`
	// Problem says what is wrong, "" when the router serves (or is
	// disabled on purpose): status exits 1 when it is set.
	Problem string `json:"problem,omitempty"`
}

// CollectRouter reads the router's units and its record of table loads
// (reloads: naming.RouterReloads below the root).
func CollectRouter(ctx context.Context, src Source, reloads string) (Router, error) {
	var r Router
	l, err := src.ListUnits(ctx, naming.RouterSocket, naming.RouterUnit)
	if err != nil {
		return r, err
	}
	var svcSub string
	for _, u := range l {
		switch u.Name {
		case naming.RouterSocket:
			r.SocketState = u.ActiveState
		case naming.RouterUnit:
			r.ServiceState, svcSub = u.ActiveState, u.SubState
		}
	}
	infos, err := src.Units(ctx, []string{naming.RouterSocket, naming.RouterUnit})
	if err != nil {
		return r, err
	}
	for _, u := range infos {
		switch {
		case u == nil:
		case u.Name == naming.RouterSocket:
			r.Enabled = u.UnitFileState == "enabled" || u.UnitFileState == "enabled-runtime"
		case u.Name == naming.RouterUnit:
			r.ServiceResult = nonSuccess(u.Result)
		}
	}
	r.Listening = r.SocketState == "active"
	if r.ServiceState == "" {
		r.ServiceState = "not loaded"
	} else if svcSub != "" {
		r.ServiceState += "/" + svcSub
	}
	if b, err := os.ReadFile(reloads); err == nil && strings.HasPrefix(r.ServiceState, "active") {
		n, rest, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		r.Loads, _ = strconv.Atoi(n)
		if msg, failed := strings.CutPrefix(rest, "failed: "); failed {
			r.TableError = msg
		}
	}
	switch {
	case r.SocketState == "failed":
		r.Problem = naming.RouterSocket + " failed: nothing answers HTTP for the tenants"
	case !r.Listening && r.Enabled:
		r.Problem = fmt.Sprintf("%s is %s though enabled: nothing answers HTTP for the tenants", naming.RouterSocket, or(r.SocketState, "not loaded"))
	case strings.HasPrefix(r.ServiceState, "failed"):
		r.Problem = naming.RouterUnit + " failed"
	case r.TableError != "" && r.Loads <= 1:
		r.Problem = "the router rejected the installed manifests at start and serves no routes: " + r.TableError
	case r.TableError != "":
		r.Problem = "the router's last reload failed, it serves the previous table: " + r.TableError
	}
	return r, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// PrintRouter writes the router's line of `ehecoatl status`, and what to
// do when it is down.
func PrintRouter(w io.Writer, r Router) {
	table := "table not loaded yet"
	switch {
	case r.TableError != "":
		table = "last table load failed"
	case r.Loads > 0:
		table = fmt.Sprintf("table loaded (%d loads)", r.Loads)
	case strings.HasPrefix(r.ServiceState, "active"):
		table = "table unknown"
	}
	svc := "service " + r.ServiceState
	if r.ServiceResult != "" {
		svc += " (" + r.ServiceResult + ")"
	}
	fmt.Fprintln(w)
	switch {
	case r.Problem != "":
		fmt.Fprintf(w, "router: DOWN: %s\n  socket %s, %s, %s\n  see: systemctl status %s %s; journalctl -u %s; 'ehecoatl apply' starts the socket\n",
			r.Problem, or(r.SocketState, "not loaded"), svc, table, naming.RouterSocket, naming.RouterUnit, naming.RouterUnit)
	case r.Listening:
		fmt.Fprintf(w, "router: listening (%s), %s, %s\n", naming.RouterSocket, svc, table)
	default:
		fmt.Fprintf(w, "router: not listening (%s is %s and disabled)\n", naming.RouterSocket, or(r.SocketState, "not loaded"))
	}
}
