using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Sockeye.Cli.Observability;

/// <summary>
/// Kestrel's transport for the admin port: a Sockeye <see cref="TcpServer"/> instead of Kestrel's own
/// socket transport. The reasons are the three things issue 23 found missing on the admin port:
/// a connection cap taken before the handler runs (<see cref="TcpServerOptions.MaxConnections"/>; the
/// ones over it are reset at once, so a flood holds no descriptor), the same descriptor reserve as the
/// data ports (<see cref="TcpServerOptions.DescriptorReserve"/>), and an accept loop that backs off on
/// EMFILE (Kestrel's socket transport, like <see cref="HttpListener"/>, retries at once and spins a core).
/// HTTP itself — parsing, header and keep-alive deadlines, size limits — stays Kestrel's.
/// </summary>
/// <param name="maxConnections">Admin connections held at once.</param>
/// <param name="descriptorReserve">Descriptors kept free, as on the data ports.</param>
/// <param name="firstByteTimeout">How long a new connection may stay silent before it is reset.</param>
/// <param name="loggerFactory">Where the server's refusals are logged (rate-limited).</param>
internal sealed class AdminTransport(int maxConnections, int descriptorReserve, TimeSpan firstByteTimeout, ILoggerFactory loggerFactory) : IConnectionListenerFactory
{
    /// <summary>How long a response may wait for a peer that does not read it.</summary>
    public static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip)
        {
            throw new NotSupportedException($"the admin port listens on an IP address and port, not {endpoint}");
        }

        var server = new TcpServer(new TcpServerOptions
        {
            EndPoint = ip,
            MaxConnections = maxConnections,
            DescriptorReserve = descriptorReserve,
            ListenBacklog = Math.Max(16, maxConnections),

            // The admin port's counts are not the data ports': sockeye_* series stay the data ports' alone.
            EnableMetrics = false,
            WriteTimeout = WriteTimeout,

            // A request line and headers fit in Kestrel's 8 KiB limit; a bigger backlog is not an admin client.
            MaxReadBufferSize = 64 * 1024,
            MaxWriteBufferSize = 1024 * 1024,
            LoggerFactory = loggerFactory,
        });
        var listener = new AdminListener(server, firstByteTimeout);
        try
        {
            await server.StartAsync(listener.HandleAsync, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return listener;
    }

    /// <summary>Hands each connection the Sockeye server accepts to Kestrel's accept loop.</summary>
    private sealed class AdminListener(TcpServer server, TimeSpan firstByteTimeout) : IConnectionListener
    {
        // Unbounded, but never longer than MaxConnections: each entry holds one of the server's slots.
        private readonly Channel<AdminConnectionContext> _accepted = Channel.CreateUnbounded<AdminConnectionContext>(
            new UnboundedChannelOptions { SingleReader = true });

        private Task<ShutdownSummary>? _stopping;

        public EndPoint EndPoint => server.LocalEndPoint!;

        public async Task HandleAsync(Connection connection)
        {
            // Kestrel times a connection that has sent nothing as an idle keep-alive one (10 s); its
            // header deadline starts at the first byte. So the first byte is awaited here, within the
            // header deadline, and only then is the connection Kestrel's: a silent one is reset at 5 s.
            using (var silence = new CancellationTokenSource(firstByteTimeout))
            {
                try
                {
                    var first = await connection.Input.ReadAsync(silence.Token).ConfigureAwait(false);
                    if (first.IsCompleted && first.Buffer.IsEmpty)
                    {
                        connection.Input.AdvanceTo(first.Buffer.End);
                        return; // closed without a request
                    }

                    // Nothing consumed or examined: Kestrel's first read sees the same bytes at once.
                    connection.Input.AdvanceTo(first.Buffer.Start);
                }
                catch (OperationCanceledException) when (silence.IsCancellationRequested)
                {
                    connection.Abort($"no request within the admin port's header deadline of {Sockeye.Timing.DurationText.Format(firstByteTimeout)}");
                    return;
                }
            }

            var context = new AdminConnectionContext(connection);
            if (!_accepted.Writer.TryWrite(context))
            {
                return; // unbound: the server closes it
            }

            // The socket belongs to Kestrel until it disposes the context; returning sooner would let the
            // server close and recycle pipes Kestrel still reads.
            await context.Done.ConfigureAwait(false);
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                while (await _accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (_accepted.Reader.TryRead(out var context))
                    {
                        return context;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            return null; // unbound: Kestrel's accept loop ends
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _accepted.Writer.TryComplete();

            // Stops accepting now; Kestrel closes the connections it has, which lets their handlers return.
            _stopping ??= server.StopAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            return ValueTask.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);
            while (_accepted.Reader.TryRead(out var never))
            {
                never.Release();
            }

            await _stopping!.ConfigureAwait(false);
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
