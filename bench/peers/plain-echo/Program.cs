// plain-echo: the baseline Sockeye must match. A plain .NET echo server written the way a careful
// developer would without a framework: Socket.AcceptAsync in a loop, one task per connection, a
// zero-byte receive while idle (so an idle connection holds no buffer) and a 4 KiB buffer from
// ArrayPool while bytes flow. No pipes, no deadlines, no limits, no metrics.
//
// With --tls-cert and --tls-key, each connection is an SslStream over a NetworkStream instead, with
// the same zero-byte read while idle (SslStream passes it through since .NET 7), for comparing idle
// TLS memory (docs/SECURITY.md).
//
// usage: plain-echo [port] [--tls-cert cert.pem --tls-key key.pem]
//        prints "listening on 127.0.0.1:PORT", runs until killed.
using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

var port = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7001;
var tls = LoadTlsOptions(args);
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(512);
Console.WriteLine($"listening on {listener.LocalEndPoint}");

while (true)
{
    var socket = await listener.AcceptAsync();
    socket.NoDelay = true;
    _ = tls is null ? Task.Run(() => EchoAsync(socket)) : Task.Run(() => EchoTlsAsync(socket, tls));
}

static async Task EchoAsync(Socket socket)
{
    try
    {
        while (true)
        {
            await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var received = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (received == 0)
                {
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, received), SocketFlags.None);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
    catch (SocketException)
    {
    }
    finally
    {
        socket.Dispose();
    }
}

static async Task EchoTlsAsync(Socket socket, SslServerAuthenticationOptions options)
{
    await using var stream = new SslStream(new NetworkStream(socket, ownsSocket: true));
    try
    {
        await stream.AuthenticateAsServerAsync(options);
        while (true)
        {
            _ = await stream.ReadAsync(Memory<byte>.Empty); // wait for bytes without holding a buffer
            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var received = await stream.ReadAsync(buffer);
                if (received == 0)
                {
                    return;
                }

                await stream.WriteAsync(buffer.AsMemory(0, received));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
    catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException)
    {
    }
}

// The handshake options for --tls-cert and --tls-key (PEM, as `sockeye serve echo` takes them), or
// null for plain TCP. One certificate context for all connections, as a careful developer would.
static SslServerAuthenticationOptions? LoadTlsOptions(string[] args)
{
    var cert = Option(args, "--tls-cert");
    var key = Option(args, "--tls-key");
    if (cert is null && key is null)
    {
        return null;
    }

    if (cert is null || key is null)
    {
        throw new ArgumentException("--tls-cert and --tls-key go together");
    }

    var certificate = X509Certificate2.CreateFromPemFile(cert, key);
    return new SslServerAuthenticationOptions
    {
        ServerCertificateContext = SslStreamCertificateContext.Create(certificate, null, offline: true),
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
    };
}

static string? Option(string[] args, string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}
