using Sockeye.Udp;

namespace Sockeye.Handlers;

/// <summary>
/// Sends every datagram back to its sender, unchanged (RFC 862's UDP echo). The reference workload for
/// <c>sockeye serve udp-echo</c> and <c>sockeye bench udp</c>. Completes synchronously when the kernel takes
/// the reply at once (the usual case), so the server reuses the buffer without a thread hop.
/// </summary>
/// <remarks>Stateless and safe for concurrent use.</remarks>
public sealed class DatagramEchoHandler : IDatagramHandler
{
    /// <summary>The one instance every server can share.</summary>
    public static DatagramEchoHandler Instance { get; } = new();

    /// <inheritdoc />
    public ValueTask HandleAsync(Datagram datagram)
    {
        ArgumentNullException.ThrowIfNull(datagram);
        return datagram.ReplyAsync(datagram.Payload);
    }
}
