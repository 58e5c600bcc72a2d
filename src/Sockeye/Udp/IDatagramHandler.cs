namespace Sockeye.Udp;

/// <summary>
/// Serves one datagram. <see cref="UdpServer"/> calls <see cref="HandleAsync(Datagram)"/> for every datagram
/// it accepts, on the receive loop's thread until the handler first awaits.
/// </summary>
/// <remarks>
/// One instance serves every datagram at once, so it must be safe for concurrent use. The
/// <see cref="Datagram"/> and its payload are valid only until the returned task completes: copy what
/// must outlive it. A delegate works just as well:
/// <see cref="UdpServer.StartAsync(Func{Datagram, ValueTask}, CancellationToken)"/>.
/// </remarks>
public interface IDatagramHandler
{
    /// <summary>Serves <paramref name="datagram"/>: reads its payload, and replies through
    /// <see cref="Datagram.ReplyAsync(ReadOnlyMemory{byte}, CancellationToken)"/> if the protocol wants a reply.</summary>
    /// <param name="datagram">The datagram received; valid until the returned task completes.</param>
    /// <returns>A task that completes when the handler is done with the datagram. An exception is logged and
    /// counted in <see cref="UdpServer.HandlerErrors"/>; the server carries on.</returns>
    ValueTask HandleAsync(Datagram datagram);
}
