package generator

import (
	"fmt"

	"github.com/ehecoatl/ehecoatl/naming"
	"github.com/ehecoatl/ehecoatl/routerenv"
	"github.com/ehecoatl/ehecoatl/units"
)

// MetricsSocket renders the router's metrics socket from its setting
// (routerenv.ReadMetrics): ehecoatl-router-metrics.socket, passed to the
// router as FileDescriptorName=metrics, and the sockets.target.wants link
// that starts it at boot (docs/METRICS.md). Off renders nothing. It is
// the boot-time generator's, apart from Generate: the setting is the
// host's, not the manifests', so apply's digest of its rendering does not
// cover it.
func MetricsSocket(m routerenv.Metrics) (*Output, error) {
	out := &Output{}
	if m.Off {
		return out, nil
	}
	u := units.New(naming.RouterMetricsSocket)
	s := u.Section("Unit")
	s.Add("Description", "Ehecoatl router metrics (/metrics)")
	s.Add("Documentation", "man:ehecoatl-router(8)")
	s.Add("SourcePath", routerenv.Path)
	s = u.Section("Socket")
	s.Add("ListenStream", m.ListenStream())
	// The router tells this socket from the request sockets by its name,
	// and serves nothing but /metrics on it.
	s.Add("FileDescriptorName", "metrics")
	s.Add("Service", naming.RouterUnit)
	f, err := file(u, naming.RouterMetricsSocket)
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	out.Files = []File{f}
	out.Links = []Link{{Dir: "sockets.target.wants", Name: naming.RouterMetricsSocket, Target: "../" + naming.RouterMetricsSocket}}
	return out, nil
}
