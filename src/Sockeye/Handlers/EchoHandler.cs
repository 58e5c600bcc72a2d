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

        // Only the connection lives across the awaits, which keeps the suspended handler of an idle
        // connection small. Reading with ShutdownRequested costs nothing while idle: the server
        // wakes such reads itself when it stops.
        while (true)
        {
            bool done;
            try
            {
                var result = await connection.Input.ReadAsync(connection.ShutdownRequested).ConfigureAwait(false);
                done = CopyToOutput(connection, result);
            }
            catch (OperationCanceledException) when (connection.ShutdownRequested.IsCancellationRequested)
            {
                // Shutdown: echo what already arrived, then finish.
                done = true;
                if (connection.Input.TryRead(out var rest))
                {
                    CopyToOutput(connection, rest);
                }
            }

            var flush = await connection.Output.FlushAsync().ConfigureAwait(false);
            if (done || flush.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>Copies a read's bytes to the output; true when the peer has finished sending.</summary>
    private static bool CopyToOutput(Connection connection, in ReadResult result)
    {
        var output = connection.Output;
        foreach (var segment in result.Buffer)
        {
            output.Write(segment.Span);
        }

        connection.Input.AdvanceTo(result.Buffer.End);
        return result.IsCompleted;
    }
}
