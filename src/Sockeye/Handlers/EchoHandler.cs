using System.Buffers;
using System.IO.Pipelines;

namespace Sockeye.Handlers;

/// <summary>
/// Sends every byte it receives back to the peer, in order, for any message size and any number of
/// pipelined requests (RFC 862's echo). The reference workload for the benchmarks and the CLI's
/// <c>serve echo</c>.
/// </summary>
/// <remarks>
/// On a graceful shutdown it echoes what has already been received, flushes, and returns, so no
/// request that reached the server goes unanswered. Stateless and safe for concurrent use.
/// </remarks>
public sealed class EchoHandler : IConnectionHandler
{
    /// <summary>The one instance every server can share.</summary>
    public static EchoHandler Instance { get; } = new();

    /// <inheritdoc />
    public async Task HandleAsync(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var input = connection.Input;
        var output = connection.Output;

        // One registration for the connection's life, rather than a token on every read: a pending
        // read then ends with IsCanceled when the server asks handlers to finish.
        using var shutdown = connection.ShutdownRequested.UnsafeRegister(static s => ((PipeReader)s!).CancelPendingRead(), input);
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            foreach (var segment in buffer)
            {
                output.Write(segment.Span);
            }

            input.AdvanceTo(buffer.End);
            var flush = await output.FlushAsync().ConfigureAwait(false);
            if (result.IsCompleted || flush.IsCompleted)
            {
                return;
            }

            if (connection.ShutdownRequested.IsCancellationRequested)
            {
                // Echo what already arrived, then finish.
                if (input.TryRead(out result))
                {
                    foreach (var segment in result.Buffer)
                    {
                        output.Write(segment.Span);
                    }

                    input.AdvanceTo(result.Buffer.End);
                    await output.FlushAsync().ConfigureAwait(false);
                }

                return;
            }
        }
    }
}
