using System.IO.Pipelines;

namespace Sockeye.Tests.Support;

/// <summary>Reading a connection's input in tests.</summary>
public static class PipeReading
{
    /// <summary>Reads until <paramref name="limit"/> bytes arrived or the peer ended the stream, and
    /// returns everything read.</summary>
    public static async Task<byte[]> ReadUpToAsync(this PipeReader input, long limit = long.MaxValue)
    {
        var all = new MemoryStream();
        while (all.Length < limit)
        {
            var result = await input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                all.Write(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        return all.ToArray();
    }

    /// <summary>Reads and drops everything until the peer ends the stream (a server that answers nothing).</summary>
    public static async Task DiscardToEndAsync(this PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync();
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}
