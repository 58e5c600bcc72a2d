using Sockeye;
using Sockeye.Framing;

namespace MyServer;

/// <summary>Sends every line back to its sender: replace it with your protocol.</summary>
public sealed class LineEchoHandler : IConnectionHandler
{
    /// <summary>The longest line accepted; a longer one ends the connection as a protocol error.</summary>
    public const int MaxLineLength = 4096;

    /// <inheritdoc />
    public async Task HandleAsync(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var lines = new LineCodec(maxLineLength: MaxLineLength);
        await foreach (var line in connection.ReadFramesAsync(lines))
            await connection.WriteFrameAsync(lines, line);
    }
}
