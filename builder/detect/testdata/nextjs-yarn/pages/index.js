export default function Home() {
  return <p>Blog</p>;
}
