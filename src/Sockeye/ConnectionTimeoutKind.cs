namespace Sockeye;

/// <summary>Which timeout or deadline ended a connection; carried by <see cref="ConnectionTimeoutException"/>
/// and used to count expiries (<see cref="TcpServer.GetTimeoutCount(ConnectionTimeoutKind)"/>).</summary>
public enum ConnectionTimeoutKind
{
    /// <summary>No bytes were received for <see cref="Connection.IdleTimeout"/>.</summary>
    Idle,

    /// <summary>One read (up to the handler consuming bytes, so a whole frame through a codec) took
    /// longer than <see cref="Connection.ReadTimeout"/>.</summary>
    Read,

    /// <summary>A send could not hand its bytes to the kernel within <see cref="Connection.WriteTimeout"/>:
    /// the peer is not reading.</summary>
    Write,

    /// <summary>A read was pending, or was started, after the deadline set by
    /// <see cref="Connection.SetReadDeadline(DateTimeOffset)"/>.</summary>
    ReadDeadline,

    /// <summary>A send was pending, or was started, after the deadline set by
    /// <see cref="Connection.SetWriteDeadline(DateTimeOffset)"/>.</summary>
    WriteDeadline,

    /// <summary>While the handler waited for a read, the peer sent slower than
    /// <see cref="TcpServerOptions.MinReceiveRate"/> after its grace period (a slowloris-style peer).</summary>
    MinReceiveRate,
}
