namespace Sockeye;

/// <summary>
/// Serves one connection from start to end. <see cref="TcpServer"/> calls
/// <see cref="HandleAsync(Connection)"/> once per accepted connection, on its own task; when the
/// returned task completes, the server flushes what the handler wrote and closes the connection.
/// </summary>
/// <remarks>
/// One instance serves every connection at once, so it must be safe for concurrent use; keep
/// per-connection state in locals or in <see cref="Connection.Items"/>. A delegate works just as well:
/// <see cref="TcpServer.StartAsync(Func{Connection, Task}, CancellationToken)"/>.
/// </remarks>
public interface IConnectionHandler
{
    /// <summary>Serves <paramref name="connection"/> until the protocol is done, the peer leaves, or
    /// <see cref="Connection.ShutdownRequested"/> asks it to finish.</summary>
    /// <param name="connection">The accepted connection; valid until the returned task completes.</param>
    /// <returns>A task that completes when the handler is done with the connection. An exception ends
    /// this connection only (it is logged and counted).</returns>
    Task HandleAsync(Connection connection);
}
