package openflow

import "github.com/skydive-project/goloxi"

func must(m goloxi.Serializable) []byte {
	b, err := encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

func (c *codec) helloMsg() []byte                          { return must(c.hello()) }
func (c *codec) echoRequestMsg(x uint32, d []byte) []byte { return must(c.echoRequest(x, d)) }
func (c *codec) echoReplyMsg(x uint32, d []byte) []byte   { return must(c.echoReply(x, d)) }
func (c *codec) tableStatsRequestMsg(x uint32) []byte     { return must(c.tableStatsRequest(x)) }
func (c *codec) flowStatsRequestMsg(x uint32, f FlowFilter) []byte {
	return must(c.flowStatsRequest(x, f))
}
