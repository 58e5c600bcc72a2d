using System.Net;
using System.Net.Sockets;

namespace Sockeye.Cli.Commands.Bench;

/// <summary>Opens the load generator's connections: TCP from a chosen source address, or a Unix socket.</summary>
internal static class Dialer
{
    // Linux's IP_BIND_ADDRESS_NO_PORT (IPPROTO_IP level): bind the source address now but pick the
    // port at connect(), so the port only has to be unique per destination, not per source address.
    private const int IpBindAddressNoPort = 24;

    /// <summary>Connects connection number <paramref name="index"/>, or throws (timeout: <see cref="TimeoutException"/>).</summary>
    public static async Task<Socket> ConnectAsync(BenchSettings settings, long index, CancellationToken cancellationToken)
    {
        var endPoint = settings.EndPoint;
        Socket socket;
        if (endPoint is UnixDomainSocketEndPoint)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }
        else
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        }

        try
        {
            if (settings.SourceAddresses is { } sources && endPoint is not UnixDomainSocketEndPoint)
            {
                socket.SetRawSocketOption(0, IpBindAddressNoPort, BitConverter.GetBytes(1));
                socket.Bind(new IPEndPoint(sources.For(index), 0));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(settings.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"connect to {settings.Target} took longer than {Sockeye.Timing.DurationText.Format(settings.ConnectTimeout)}");
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="message"/> and reads exactly as many bytes back into
    /// <paramref name="reply"/>; false when the peer closed first.</summary>
    public static async ValueTask<bool> RoundTripAsync(Socket socket, ReadOnlyMemory<byte> message, Memory<byte> reply, CancellationToken cancellationToken)
    {
        while (!message.IsEmpty)
        {
            var sent = await socket.SendAsync(message, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            message = message[sent..];
        }

        var got = 0;
        while (got < reply.Length)
        {
            var received = await socket.ReceiveAsync(reply[got..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                return false;
            }

            got += received;
        }

        return true;
    }
}
