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

    // What every dialed connection shares: no shutdown token, no timers, no server to report to.
    private static readonly ConnectionContext Context = new(Pool, Senders, MaxReadBufferSize, MaxWriteBufferSize, deadlines: null, start: null, handlerDone: null, CancellationToken.None);

    /// <summary>Creates a client connection over a connected <paramref name="socket"/>.</summary>
    public static SocketConnection Create(System.Net.Sockets.Socket socket)
    {
        GC.KeepAlive(Trimmer);
        return new SocketConnection(socket, Context);
    }
}
