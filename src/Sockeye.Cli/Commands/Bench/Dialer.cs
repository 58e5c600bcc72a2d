using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Sockeye.Cli.Commands.Bench;

/// <summary>Opens the load generator's connections (TCP from a chosen source address, or a Unix socket) and does its round trips.</summary>
internal static class Dialer
{
    /// <summary>
    /// Connects connection number <paramref name="index"/> through the library's
    /// <see cref="Sockeye.Dialing.Dialer"/> (its resolution, timeout, source address and errors), from
    /// the source address the settings give that connection; throws <see cref="TimeoutException"/> when
    /// the connect takes longer than the settings allow. The connection's I/O then goes straight to the
    /// socket: the load generator must cost less per round trip than the servers it drives.
    /// </summary>
    public static async Task<Socket> ConnectAsync(BenchSettings settings, long index, CancellationToken cancellationToken)
    {
        var endPoint = settings.EndPoint;
        var dialer = new Sockeye.Dialing.Dialer
        {
            ConnectTimeout = settings.ConnectTimeout,
            LocalAddress = settings.SourceAddresses is { } sources && endPoint is not UnixDomainSocketEndPoint ? sources.For(index) : null,
        };
        try
        {
            return await dialer.DialSocketAsync(endPoint, cancellationToken).ConfigureAwait(false);
        }
        catch (Sockeye.Dialing.ConnectTimeoutException ex)
        {
            throw new TimeoutException($"connect to {settings.Target} took longer than {Sockeye.Timing.DurationText.Format(settings.ConnectTimeout)}", ex);
        }
    }

    /// <summary>
    /// Connects connection number <paramref name="index"/> as <see cref="ConnectAsync"/> does and, for a
    /// <c>--tls</c> run, completes a TLS handshake over it within the same timeout.
    /// </summary>
    /// <remarks>Under TLS the server's certificate is accepted whatever it is (self-signed, expired,
    /// another name): a load generator measures a server, it does not authenticate it. Never point it
    /// at a server whose identity matters.</remarks>
    public static async Task<BenchConnection> OpenAsync(BenchSettings settings, long index, CancellationToken cancellationToken)
    {
        var socket = await ConnectAsync(settings, index, cancellationToken).ConfigureAwait(false);
        if (!settings.Tls)
        {
            return new BenchConnection(socket, null);
        }

        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(settings.ConnectTimeout);
            await tls.AuthenticateAsClientAsync(ClientOptions(settings), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"TLS handshake with {settings.Target} took longer than {Sockeye.Timing.DurationText.Format(settings.ConnectTimeout)}", ex);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new BenchConnection(socket, tls);
    }

    /// <summary>The client side of a <c>--tls</c> handshake: the SNI name from <c>--tls-sni</c> (none
    /// by default), any server certificate accepted (see <see cref="OpenAsync"/>).</summary>
    public static SslClientAuthenticationOptions ClientOptions(BenchSettings settings) => new()
    {
        TargetHost = settings.TlsServerName ?? "",
#pragma warning disable CA5359 // A load generator accepts any certificate by design; documented on the option.
        RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
    };

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
