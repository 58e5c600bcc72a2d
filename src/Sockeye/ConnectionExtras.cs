using System.Net;

namespace Sockeye;

/// <summary>
/// The part of a <see cref="Connection"/> that most connections never use, or use only at the end of
/// their life: one object created on first use instead of a field each in every connection (an idle
/// connection pays 8 bytes for the reference instead of 56 for the fields; docs/MEMORY.md).
/// </summary>
/// <remarks>Fields that are set from several threads are written with <see cref="Interlocked"/> by
/// their owners; the others belong to the handler's task.</remarks>
internal sealed class ConnectionExtras
{
    /// <summary><see cref="Connection.Items"/>.</summary>
    public Dictionary<object, object?>? Items;

    /// <summary>The framing helpers' reader (see <see cref="Connection.FrameReader"/>).</summary>
    public Framing.Internal.FrameReader? FrameReader;

    /// <summary>Behind <see cref="Connection.ConnectionClosed"/>, created when someone asks for it.</summary>
    public CancellationTokenSource? ClosedSource;

    /// <summary>Why the connection was aborted, for the exceptions that report it.</summary>
    public string? AbortReason;

    /// <summary>The local endpoint, read from the socket on first request and kept.</summary>
    public EndPoint? LocalEndPoint;

    /// <summary>The first dispose's work, which later calls wait for instead of repeating it.</summary>
    public Task? DisposeTask;

    /// <summary>The send queue for messages from other tasks (<see cref="Connection.TrySend(Fanout.OutgoingMessage)"/>),
    /// created by the first one.</summary>
    public Transport.Outbox? Outbox;

    /// <summary>Set before the abort that disconnects a slow consumer, so the close is counted as one.</summary>
    public bool SlowConsumer;

    /// <summary>The groups this connection is a member of, to leave them when it closes: null, one
    /// <see cref="Fanout.ConnectionGroup"/>, or a <see cref="List{T}"/> of them once there are two
    /// (under this object's lock; see <see cref="Connection.TrackGroup"/>).</summary>
    public object? Groups;

    /// <summary>The connection handlers were given in place of this transport (the TLS layer), so that
    /// the transport's close makes it leave its groups too.</summary>
    public Connection? Upper;

    /// <summary>Why the handler rejected the peer's input with
    /// <see cref="Framing.ConnectionFramingExtensions.RejectAsync"/>: the server counts the connection's
    /// end as one protocol error, however the handler then ends (set on the transport).</summary>
    public string? ProtocolError;

    /// <summary>The connection closed and left its groups: it joins no more (under this object's lock).</summary>
    public bool GroupsClosed;
}
