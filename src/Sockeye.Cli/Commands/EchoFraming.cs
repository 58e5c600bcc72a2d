using System.CommandLine;
using Sockeye.Cli.Parsing;
using Sockeye.Framing;
using Sockeye.Handlers;

namespace Sockeye.Cli.Commands;

/// <summary>The <c>--framing</c> and <c>--max-frame-size</c> options of <c>sockeye serve echo</c>, and
/// the echo handler they select.</summary>
internal static class EchoFraming
{
    /// <summary>The frame formats <c>--framing</c> accepts.</summary>
    public static readonly string[] Names = ["raw", "line", "length32"];

    public static Option<string> FramingOption()
    {
        var option = new Option<string>("--framing")
        {
            Description = "What to echo: raw (bytes as they come), line (whole lines ending in \\n or \\r\\n), length32 (frames with a 4-byte big-endian length prefix); default raw",
            DefaultValueFactory = _ => "raw",
        };
        option.Validators.Add(r =>
        {
            var value = r.GetValueOrDefault<string>();
            if (!Names.Contains(value, StringComparer.Ordinal))
            {
                r.AddError($"--framing must be raw, line or length32, got '{value}'");
            }
        });
        return option;
    }

    public static Option<long> MaxFrameSizeOption()
    {
        var option = CliOptions.Size("--max-frame-size", 64 * 1024, "Largest frame echoed with --framing line or length32 (a longer line, or a length prefix declaring more, closes that connection). Lines are echoed byte for byte, so the size counts a \\r before the \\n: a \\r\\n line holds at most SIZE - 1 bytes of text, a \\n line SIZE");
        option.Validators.Add(r =>
        {
            // A value that is not a size was already reported by the parser; reading it would throw.
            if (r.Tokens.Count > 0 && !ByteSize.TryParse(r.Tokens[0].Value, out _, out _))
            {
                return;
            }

            var value = r.GetValueOrDefault<long>();
            if (value is < 1 or > int.MaxValue)
            {
                r.AddError($"--max-frame-size must be between 1 byte and 2GiB, got {value}");
            }
        });
        return option;
    }

    /// <summary>The handler for <paramref name="framing"/>: the byte echo for <c>raw</c>, a framed echo
    /// with a codec per connection otherwise.</summary>
    public static IConnectionHandler Handler(string framing, long maxFrameSize)
    {
        var max = (int)maxFrameSize;
        return framing switch
        {
            // Lines are echoed byte for byte: a \r before the \n stays in the frame and goes back.
            "line" => new FramedEchoHandler(() => new LineCodec(max, stripCarriageReturn: false)),
            "length32" => new FramedEchoHandler(() => new LengthPrefixCodec(max, lengthFieldSize: 4)),
            _ => EchoHandler.Instance,
        };
    }
}
