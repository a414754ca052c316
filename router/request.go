package router

import "github.com/ehecoatl/ehecoatl/router/wire"

// request is one parsed client request head (wire.Request) and what the
// router read of its body.
type request struct {
	wire.Request

	// body is what bufferBody read of the body before the request took a
	// slot, in bodyBuf; bodyDone: that is all of it, otherwise bodyRest
	// reads the remainder.
	body     []byte
	bodyBuf  *[]byte
	bodyDone bool
	bodyRest *bodyReader
}

// parse parses head into req, reusing its slices, and clears the body
// state of the previous request.
func (req *request) parse(head string) error {
	*req = request{Request: req.Request}
	return wire.ParseRequest(&req.Request, head)
}
