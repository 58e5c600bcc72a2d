using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>The client side of a <c>--tls</c> run: the handshake over a socket the library's
/// <see cref="Sockeye.Dialing.Dialer"/> connected, within the connect timeout.</summary>
/// <remarks>The server's certificate is accepted whatever it is (self-signed, expired, another name): a
/// load generator measures a server, it does not authenticate it. Never point it at a server whose
/// identity matters.</remarks>
internal static class TlsClientHandshake
{
    /// <summary>Completes a TLS handshake over <paramref name="socket"/>, which the returned stream then
    /// owns; throws <see cref="TimeoutException"/> when it takes longer than
    /// <see cref="BenchSettings.ConnectTimeout"/>. On failure the socket is closed.</summary>
    public static async Task<SslStream> AuthenticateAsync(Socket socket, BenchSettings settings, CancellationToken cancellationToken)
    {
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(settings.ConnectTimeout);
            await tls.AuthenticateAsClientAsync(Options(settings), timeout.Token).ConfigureAwait(false);
            return tls;
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"TLS handshake with {settings.Target} took longer than {settings.ConnectTimeout.TotalSeconds:0.###} s"), ex);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The handshake's options: the SNI name from <c>--tls-sni</c> (none by default), any
    /// server certificate accepted.</summary>
    public static SslClientAuthenticationOptions Options(BenchSettings settings) => new()
    {
        TargetHost = settings.TlsServerName ?? "",
#pragma warning disable CA5359 // A load generator accepts any certificate by design; documented on the class.
        RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
    };
}
