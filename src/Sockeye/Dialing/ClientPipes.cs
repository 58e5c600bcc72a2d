using Sockeye.Timing;
using Sockeye.Transport;

namespace Sockeye.Dialing;

/// <summary>
/// The buffers of dialed connections: one process-wide block pool, trimmed every 10 seconds so a burst
/// of client connections does not keep its memory after it ends, and one pool of send state; the same
/// read and write limits as a server's defaults (see <see cref="TcpServerOptions.MaxReadBufferSize"/>).
/// </summary>
internal static class ClientPipes
{
    public const long MaxReadBufferSize = 1024 * 1024;

    public const long MaxWriteBufferSize = 64 * 1024;

    public static readonly PinnedBlockMemoryPool Pool = new();

    public static readonly SocketSenderPool Senders = new();

    // Held here so the timer lives as long as the pool; a process has one.
    private static readonly ITimer Trimmer = TimeProvider.System.CreateTimer(static _ => Pool.Trim(), null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));

    /// <summary>What the connections of one dialer share: the process-wide pools, no shutdown token, no
    /// server to report to, and the dialer's timeout defaults and scanner.</summary>
    public static ConnectionContext CreateContext(DeadlineSettings deadlines) =>
        new(Pool, Senders, MaxReadBufferSize, MaxWriteBufferSize, deadlines, start: null, handlerDone: null, CancellationToken.None);

    /// <summary>Creates a client connection over a connected <paramref name="socket"/>, with its
    /// deadline state from the start when the dialer's defaults time something.</summary>
    public static SocketConnection Create(System.Net.Sockets.Socket socket, ConnectionContext context)
    {
        GC.KeepAlive(Trimmer);
        var connection = new SocketConnection(socket, context);
        connection.AttachDeadlines();
        return connection;
    }
}
