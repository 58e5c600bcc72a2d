using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Sockeye.Dialing;

namespace Sockeye.Bench;

/// <summary>
/// One connection of the load generator: a socket, and the <see cref="SslStream"/> over it when the
/// run is <c>--tls</c>. Round trips go straight to the socket on plain TCP (the bench must cost less
/// per round trip than the servers it drives) and through the <see cref="SslStream"/> under TLS.
/// </summary>
/// <remarks>Not safe for concurrent use: one connection loop owns it.</remarks>
internal sealed class BenchConnection(Socket socket, SslStream? tls) : IDisposable
{
    /// <summary>The socket underneath (for the linger option and the FIN).</summary>
    public Socket Socket { get; } = socket;

    /// <summary>The TLS layer, or <see langword="null"/> on plain TCP.</summary>
    public SslStream? Tls { get; } = tls;

    /// <summary>Connects through <paramref name="dialer"/> (the library's: its timeout, source address and
    /// errors) and, for a <c>--tls</c> run, completes the handshake within the same timeout.</summary>
    /// <exception cref="DialException">The connect failed or timed out.</exception>
    /// <exception cref="TimeoutException">The TLS handshake took longer than the connect timeout.</exception>
    public static async Task<BenchConnection> OpenAsync(Dialer dialer, EndPoint endPoint, BenchSettings settings, CancellationToken cancellationToken)
    {
        var socket = await dialer.DialSocketAsync(endPoint, cancellationToken).ConfigureAwait(false);
        return settings.Tls
            ? new BenchConnection(socket, await TlsClientHandshake.AuthenticateAsync(socket, settings, cancellationToken).ConfigureAwait(false))
            : new BenchConnection(socket, null);
    }

    /// <summary>Sends <paramref name="message"/> and reads exactly as many bytes back into
    /// <paramref name="reply"/>; false when the peer closed first.</summary>
    public ValueTask<bool> RoundTripAsync(ReadOnlyMemory<byte> message, Memory<byte> reply, CancellationToken cancellationToken) =>
        Tls is null
            ? RoundTripOverSocketAsync(Socket, message, reply, cancellationToken)
            : RoundTripOverTlsAsync(Tls, message, reply, cancellationToken);

    /// <summary>Ends the connection politely: a TLS close_notify (under TLS), the FIN, then waits for
    /// the server's end so the connection is over for both sides.</summary>
    public async Task CloseAndDrainAsync(byte[] drain)
    {
        if (Tls is null)
        {
            Socket.Shutdown(SocketShutdown.Send);
            while (await Socket.ReceiveAsync(drain, SocketFlags.None).ConfigureAwait(false) > 0)
            {
            }

            return;
        }

        await Tls.ShutdownAsync().ConfigureAwait(false);
        Socket.Shutdown(SocketShutdown.Send);
        while (await Tls.ReadAsync(drain).ConfigureAwait(false) > 0)
        {
        }
    }

    /// <summary>Closes the socket (and the TLS layer with it) without a close_notify.</summary>
    public void Dispose()
    {
        Tls?.Dispose();
        Socket.Dispose();
    }

    // Straight to the socket: the load generator must cost less per round trip than the servers it drives.
    private static async ValueTask<bool> RoundTripOverSocketAsync(Socket socket, ReadOnlyMemory<byte> message, Memory<byte> reply, CancellationToken cancellationToken)
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

    private static async ValueTask<bool> RoundTripOverTlsAsync(SslStream tls, ReadOnlyMemory<byte> message, Memory<byte> reply, CancellationToken cancellationToken)
    {
        await tls.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        var got = 0;
        while (got < reply.Length)
        {
            var received = await tls.ReadAsync(reply[got..], cancellationToken).ConfigureAwait(false);
            if (received == 0)
            {
                return false;
            }

            got += received;
        }

        return true;
    }
}
