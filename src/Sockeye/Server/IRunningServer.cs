using System.Net;

namespace Sockeye.Server;

/// <summary>
/// What <see cref="TcpServer"/> and <see cref="Udp.UdpServer"/> have in common once started: where they
/// are bound, their state, and their stop. Lets the Generic Host run and drain a listener without
/// asking which of the two it is.
/// </summary>
internal interface IRunningServer : IAsyncDisposable
{
    /// <summary>The bound address and port (the kernel's choice for port 0); null before the start or on a Unix socket.</summary>
    IPEndPoint? LocalEndPoint { get; }

    /// <summary>Where the server is in its life.</summary>
    ServerState State { get; }

    /// <summary>Stops the server, draining for up to <paramref name="drainTimeout"/>; see each server's own steps.</summary>
    Task<ShutdownSummary> StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default);
}
