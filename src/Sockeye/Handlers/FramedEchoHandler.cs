using Sockeye.Framing;

namespace Sockeye.Handlers;

/// <summary>
/// Sends every frame it receives back to the peer, whole and in order, encoded with the same codec:
/// the framed variant of <see cref="EchoHandler"/>, behind <c>sockeye serve echo --framing</c>.
/// </summary>
/// <remarks>
/// A frame over the codec's maximum closes that connection (the server counts a protocol error).
/// Frames that arrive together are echoed with one flush. On a graceful shutdown it echoes the frames
/// already received and returns. Safe for concurrent use: each connection gets its own codec.
/// </remarks>
public sealed class FramedEchoHandler : IConnectionHandler
{
    private readonly Func<IFrameCodec> _codecFactory;

    /// <summary>Creates the handler.</summary>
    /// <param name="codecFactory">Makes the codec for one connection; called once per connection,
    /// because decoders may keep per-stream state.</param>
    public FramedEchoHandler(Func<IFrameCodec> codecFactory)
    {
        ArgumentNullException.ThrowIfNull(codecFactory);
        _codecFactory = codecFactory;
    }

    /// <inheritdoc />
    public async Task HandleAsync(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var codec = _codecFactory();
        await foreach (var frame in connection.ReadFramesAsync(codec).ConfigureAwait(false))
        {
            connection.WriteFrame(codec, frame);
            while (connection.TryReadFrame(codec, out var next))
            {
                connection.WriteFrame(codec, next);
            }

            var flush = await connection.Output.FlushAsync().ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                return;
            }
        }
    }
}
