using System.IO.Pipelines;
using System.Net;

namespace Sockeye;

/// <summary>
/// One accepted connection, as its handler sees it: two pipes (bytes from the peer on
/// <see cref="Input"/>, bytes to the peer on <see cref="Output"/>), the endpoints, tokens that tell
/// the handler when to stop, and ways to end the connection gracefully or at once.
/// </summary>
/// <remarks>
/// <para>A connection belongs to the one task that runs its handler: read <see cref="Input"/> from one
/// place at a time and write <see cref="Output"/> from one place at a time, as with any pipe.
/// <see cref="Abort(string)"/>, <see cref="Id"/>, the endpoints and the tokens are safe to use from
/// any thread.</para>
/// <para>Bytes written to <see cref="Output"/> reach the socket when the handler flushes
/// (<c>await Output.FlushAsync()</c>); a flush waits while the peer is slow to read, which is how
/// back-pressure reaches the handler.</para>
/// </remarks>
public abstract class Connection
{
    private Dictionary<object, object?>? _items;

    /// <summary>A number unique to this connection within the process, for logs and lookups.</summary>
    public abstract long Id { get; }

    /// <summary>The server's address and port for this connection.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address and port.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>Bytes received from the peer. A read that returns <c>IsCompleted</c> means the peer
    /// closed its side (FIN); a reset or an abort surfaces as an exception from <c>ReadAsync</c>.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to send to the peer; they are sent when the handler flushes.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>Fires when the connection has ended for any reason: the peer closed or reset it, it was
    /// aborted, or it was closed after the handler finished.</summary>
    /// <remarks>Use it to stop work that runs beside the handler, such as a timer or a subscription.</remarks>
    public abstract CancellationToken ConnectionClosed { get; }

    /// <summary>Fires when the server is shutting down gracefully and asks the handler to finish: it
    /// should complete the request in hand, write its last reply and return. The server aborts
    /// connections whose handlers are still running when the drain timeout ends.</summary>
    public abstract CancellationToken ShutdownRequested { get; }

    /// <summary>A place for the handler's own per-connection state (a session, a user id, ...).
    /// Created on first use; not thread-safe.</summary>
    public IDictionary<object, object?> Items => _items ??= [];

    /// <summary>Ends the connection at once: the socket is reset (RST), unsent output is dropped, and
    /// pending reads and flushes fail with <see cref="ConnectionAbortedException"/> carrying
    /// <paramref name="reason"/>. Calling it again does nothing.</summary>
    /// <param name="reason">Why the connection was aborted; it appears in logs and exceptions.</param>
    public abstract void Abort(string reason);

    /// <summary>Ends the connection gracefully: sends what <see cref="Output"/> still holds, then
    /// closes the sending side (FIN), and completes when that is done. Reading <see cref="Input"/> after
    /// it is not allowed. The server does the same when the handler returns, so calling it is needed
    /// only to close before the handler ends.</summary>
    public abstract ValueTask CloseAsync();
}
