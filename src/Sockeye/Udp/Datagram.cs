using System.Net;
using System.Net.Sockets;

namespace Sockeye.Udp;

/// <summary>
/// One datagram received by a <see cref="UdpServer"/>, as its handler sees it: the payload, the sender's
/// address, and a way to reply from the socket it arrived on.
/// </summary>
/// <remarks>
/// The server reuses datagram objects and their buffers: a <see cref="Datagram"/> and its
/// <see cref="Payload"/> are valid only until the handler's task completes. Copy the payload
/// (<c>Payload.ToArray()</c>) to keep it. Replies may be sent from any thread while the handler runs.
/// </remarks>
public sealed class Datagram
{
    private readonly UdpServer _server;
    private readonly Socket _socket;
    private readonly EndPoint _endPointTemplate;
    private EndPoint? _remoteEndPoint;

    internal Datagram(UdpServer server, Socket socket, int bufferSize)
    {
        _server = server;
        _socket = socket;
        _endPointTemplate = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        Buffer = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
        Address = new SocketAddress(socket.AddressFamily);
    }

    /// <summary>The bytes received: the whole datagram, never part of one.</summary>
    public ReadOnlyMemory<byte> Payload => Buffer.AsMemory(0, Length);

    /// <summary>The sender's address and port, where <see cref="ReplyAsync"/> sends.</summary>
    public EndPoint RemoteEndPoint => _remoteEndPoint ??= _endPointTemplate.Create(Address);

    /// <summary>The server's address and port that received the datagram.</summary>
    public EndPoint? LocalEndPoint => _server.LocalEndPoint;

    /// <summary>Fires when the server begins a graceful stop: finish this datagram quickly.</summary>
    public CancellationToken ShutdownRequested => _server.ShutdownToken;

    /// <summary>The receive buffer, pinned because the kernel writes into it on every receive.</summary>
    internal byte[] Buffer { get; }

    /// <summary>The sender's raw address, filled in by the receive without an allocation.</summary>
    internal SocketAddress Address { get; }

    /// <summary>The socket this datagram object belongs to (replies leave from it).</summary>
    internal Socket Socket => _socket;

    internal int Length { get; private set; }

    /// <summary>Sends <paramref name="payload"/> to the sender, from the socket the datagram arrived on (so
    /// the reply comes from the port the sender used).</summary>
    /// <param name="payload">The reply; sent as one datagram.</param>
    /// <param name="cancellationToken">Abandons the send if the kernel's send buffer is full.</param>
    /// <returns>A task that completes when the kernel has taken the reply (usually at once).</returns>
    /// <exception cref="SocketException">The kernel refused the datagram (for example, too large).</exception>
    public ValueTask ReplyAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ValueTask<int> send;
        try
        {
            send = _socket.SendToAsync(payload, SocketFlags.None, Address, cancellationToken);
        }
        catch (SocketException)
        {
            _server.Counters.SendFailed();
            throw;
        }

        if (send.IsCompletedSuccessfully)
        {
            _server.Counters.Sent(send.Result);
            return default;
        }

        return AwaitSendAsync(send);
    }

    private async ValueTask AwaitSendAsync(ValueTask<int> send)
    {
        try
        {
            _server.Counters.Sent(await send.ConfigureAwait(false));
        }
        catch (SocketException)
        {
            _server.Counters.SendFailed();
            throw;
        }
    }

    /// <summary>Readies the object for a handler after a receive of <paramref name="length"/> bytes.</summary>
    internal void Received(int length)
    {
        Length = length;
        _remoteEndPoint = null;
    }
}
