using System.Buffers;
using System.Text;
using CsCheck;
using Sockeye.Samples.Kv.Resp;

namespace Sockeye.Tests.Samples;

/// <summary>samples/Kv's RESP parser alone: round trips in random splits, Redis's replies to broken
/// requests, and no allocation by a claimed length.</summary>
public class KvParserTests
{
    [Fact]
    public void RandomCommandsRoundTripThroughTheParserInAnySplit()
    {
        var word = Gen.Char['a', 'z'].Array[1, 8].Select(c => Encoding.ASCII.GetBytes(c));
        var binary = Gen.Byte.Array[0, 300];
        var command = Gen.Select(Gen.Bool, word.Array[1, 5], binary.Array[1, 5]);
        Gen.Select(command.List[1, 12], Gen.Int[1, 97].Array[1, 8]).Sample((commands, splits) =>
        {
            var wire = new List<byte>();
            var expected = new List<byte[][]>();
            foreach (var (inline, words, values) in commands)
            {
                var args = inline ? words : values;
                wire.AddRange(inline ? Inline(args) : Array(args));
                expected.Add(args);
            }

            var decoded = ParseInPieces(wire.ToArray(), splits);
            Assert.Equal(expected.Count, decoded.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i], decoded[i]);
            }
        });
    }

    [Fact]
    public void ACommandFedOneByteAtATimeIsDecodedOnceComplete()
    {
        var wire = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\nPING\r\n");
        var decoded = ParseInPieces(wire, [1]);
        Assert.Equal(2, decoded.Count);
        Assert.Equal(["SET", "k\r\n", ""], decoded[0].Select(Encoding.ASCII.GetString));
        Assert.Equal(["PING"], decoded[1].Select(Encoding.ASCII.GetString));
    }

    [Theory]
    [InlineData("*2\r\n$3\r\nGET\r\n$x\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$536870913\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$99999999999999999999999\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*x\r\n", "ERR Protocol error: invalid multibulk length")]
    [InlineData("*1048577\r\n", "ERR Protocol error: invalid multibulk length")]
    [InlineData("*2\r\n:3\r\n", "ERR Protocol error: expected '$', got ':'")]
    [InlineData("*1\r\n*1\r\n$1\r\na\r\n", "ERR Protocol error: expected '$', got '*'")]
    [InlineData("set \"a b\r\n", "ERR Protocol error: unbalanced quotes in request")]
    [InlineData("set \"a\"b\r\n", "ERR Protocol error: unbalanced quotes in request")]
    public void ABrokenRequestGetsRedisProtocolError(string wire, string reply)
    {
        var error = Assert.Throws<RespProtocolException>(() => ParseInPieces(Encoding.ASCII.GetBytes(wire), [1000]));
        Assert.Equal(reply, error.Reply);
    }

    [Fact]
    public void AnInlineRequestOrHeaderWithNoLineEndPast64KiBIsRefused()
    {
        var inline = Assert.Throws<RespProtocolException>(() => ParseInPieces(new byte[70_000].Select(_ => (byte)'x').ToArray(), [4096]));
        Assert.Equal("ERR Protocol error: too big inline request", inline.Reply);
        var header = Assert.Throws<RespProtocolException>(() => ParseInPieces([(byte)'*', .. Enumerable.Repeat((byte)'1', 70_000)], [4096]));
        Assert.Equal("ERR Protocol error: too big mbulk count string", header.Reply);
    }

    [Fact]
    public void AHugeClaimedBulkWithinTheLimitWaitsForItsBytesWithoutAllocatingThem()
    {
        var args = new CommandArgs();
        var wire = Encoding.ASCII.GetBytes("*2\r\n$3\r\nSET\r\n$536870912\r\nonly a few bytes");
        var before = GC.GetAllocatedBytesForCurrentThread();

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(wire));
        Assert.False(RespParser.TryParse(ref reader, args, RespLimits.Default));

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 * 1024, "the parser allocated by the claimed length");
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void TheArrayAndBulkBoundsFollowTheConfiguredLimits()
    {
        var limits = new RespLimits(MaxBulk: 4, MaxArray: 2);
        Assert.Equal("ERR Protocol error: invalid multibulk length", Assert.Throws<RespProtocolException>(() => Parse("*3\r\n", limits)).Reply);
        Assert.Equal("ERR Protocol error: invalid bulk length", Assert.Throws<RespProtocolException>(() => Parse("*1\r\n$5\r\n", limits)).Reply);
        Assert.Equal(["abcd"], Parse("*1\r\n$4\r\nabcd\r\n", limits).Select(Encoding.ASCII.GetString));
    }

    [Theory]
    [InlineData("set a \"x\\x41y\\n\"", new[] { "set", "a", "xAy\n" })]
    [InlineData("set a 'b c' 'it\\'s'", new[] { "set", "a", "b c", "it's" })]
    [InlineData("  ping   ", new[] { "ping" })]
    [InlineData("get \"\"", new[] { "get", "" })]
    public void InlineRequestsAreSplitAsRedisSplitsThem(string line, string[] expected)
    {
        Assert.Equal(expected, Parse(line + "\r\n", RespLimits.Default).Select(Encoding.ASCII.GetString));
    }

    [Fact]
    public void EmptyRequestsAreSkippedAsRedisSkipsThem()
    {
        var decoded = ParseInPieces(Encoding.ASCII.GetBytes("\r\n\r\n*0\r\n*-1\r\nPING\r\n"), [3]);
        Assert.Equal(["PING"], decoded.Single().Select(Encoding.ASCII.GetString));
    }

    private static byte[][] Parse(string wire, RespLimits limits)
    {
        var args = new CommandArgs();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(wire)));
        Assert.True(RespParser.TryParse(ref reader, args, limits));
        return Enumerable.Range(0, args.Count).Select(args.ToArray).ToArray();
    }

    /// <summary>Feeds <paramref name="wire"/> as a pipe would: pieces of the given sizes arrive, the
    /// parser sees everything unconsumed as a multi-segment sequence, and decodes what is complete.</summary>
    private static List<byte[][]> ParseInPieces(byte[] wire, int[] splits)
    {
        var decoded = new List<byte[][]>();
        var args = new CommandArgs();
        var pending = new List<byte[]>();
        var offset = 0;
        var split = 0;
        while (offset < wire.Length)
        {
            var size = Math.Min(splits[split++ % splits.Length], wire.Length - offset);
            pending.Add(wire[offset..(offset + size)]);
            offset += size;

            var sequence = Segments(pending);
            var reader = new SequenceReader<byte>(sequence);
            while (RespParser.TryParse(ref reader, args, RespLimits.Default))
            {
                decoded.Add(Enumerable.Range(0, args.Count).Select(args.ToArray).ToArray());
            }

            var rest = sequence.Slice(reader.Position).ToArray();
            pending.Clear();
            if (rest.Length > 0)
            {
                pending.Add(rest[..(rest.Length / 2)]);
                pending.Add(rest[(rest.Length / 2)..]);
            }
        }

        return decoded;
    }

    private static ReadOnlySequence<byte> Segments(List<byte[]> pieces)
    {
        var nonEmpty = pieces.Where(p => p.Length > 0).ToList();
        if (nonEmpty.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(nonEmpty[0], 0);
        var last = first;
        foreach (var piece in nonEmpty.Skip(1))
        {
            last = last.Append(piece);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static byte[] Array(byte[][] args)
    {
        var bytes = new List<byte>(Encoding.ASCII.GetBytes($"*{args.Length}\r\n"));
        foreach (var arg in args)
        {
            bytes.AddRange(Encoding.ASCII.GetBytes($"${arg.Length}\r\n"));
            bytes.AddRange(arg);
            bytes.AddRange("\r\n"u8.ToArray());
        }

        return [.. bytes];
    }

    private static byte[] Inline(byte[][] words) => Encoding.ASCII.GetBytes(string.Join(' ', words.Select(Encoding.ASCII.GetString)) + "\r\n");

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
