using System.Net;

namespace Sockeye;

/// <summary>The fields of <see cref="ConnectionExtras"/> that few connections use, or that are used only
/// when a connection ends (see its remarks).</summary>
internal sealed class ConnectionRareExtras
{
    /// <summary><see cref="Connection.Items"/>.</summary>
    public Dictionary<object, object?>? Items;

    /// <summary>Behind <see cref="Connection.ConnectionClosed"/>, created when someone asks for it.</summary>
    public CancellationTokenSource? ClosedSource;

    /// <summary>Why the connection was aborted, for the exceptions that report it.</summary>
    public string? AbortReason;

    /// <summary>The local endpoint, read from the socket on first request and kept.</summary>
    public EndPoint? LocalEndPoint;

    /// <summary>The first dispose's work, which later calls wait for instead of repeating it.</summary>
    public Task? DisposeTask;

    /// <summary>The connection handlers were given in place of this transport (the TLS layer), so that
    /// the transport's close makes it leave its groups too.</summary>
    public Connection? Upper;

    /// <summary>Why the handler rejected the peer's input with
    /// <see cref="Framing.ConnectionFramingExtensions.RejectAsync"/>: the server counts the connection's
    /// end as one protocol error, however the handler then ends (set on the transport).</summary>
    public string? ProtocolError;

    /// <summary>Set before the abort that disconnects a slow consumer, so the close is counted as one.</summary>
    public bool SlowConsumer;
}
