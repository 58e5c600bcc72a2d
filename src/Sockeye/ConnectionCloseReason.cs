namespace Sockeye;

/// <summary>How a connection accepted by <see cref="TcpServer"/> ended; counted per reason
/// (<see cref="TcpServer.GetClosedCount(ConnectionCloseReason)"/>) and published as the
/// <c>sockeye.close.reason</c> tag of <c>sockeye.connections.closed</c>.</summary>
/// <remarks>When several apply, the first in this order wins: a timeout, a handler or protocol error,
/// an abort, a reset, the peer's FIN, the server's stop, the handler's own return.</remarks>
public enum ConnectionCloseReason
{
    /// <summary>The handler returned while the peer was still connected: the server closed it
    /// (tag <c>handler_returned</c>).</summary>
    HandlerReturned,

    /// <summary>The peer closed its side (FIN) and the handler then returned (tag <c>peer_closed</c>).</summary>
    PeerClosed,

    /// <summary>The peer reset the connection (RST) (tag <c>peer_reset</c>).</summary>
    PeerReset,

    /// <summary>A timeout or deadline expired; which one is counted by <c>sockeye.timeouts</c> (tag <c>timeout</c>).</summary>
    Timeout,

    /// <summary>The handler threw: its connection was aborted (tag <c>handler_error</c>).</summary>
    HandlerError,

    /// <summary>The peer broke the protocol: a malformed or oversize frame (tag <c>protocol_error</c>).</summary>
    ProtocolError,

    /// <summary>The server was stopping: the handler finished on <see cref="Connection.ShutdownRequested"/>,
    /// or the connection was aborted when the drain timeout passed (tag <c>shutdown</c>).</summary>
    Shutdown,

    /// <summary><see cref="Connection.Abort(string)"/> was called by the handler or other code, with no
    /// timeout and no stop behind it (tag <c>aborted</c>).</summary>
    Aborted,

    /// <summary>The connection's send queue passed its slow-consumer limit
    /// (<see cref="Fanout.SendQueueOptions"/>): it did not read what it was sent fast enough
    /// (tag <c>slow_consumer</c>).</summary>
    SlowConsumer,
}
